// Makes drafters from specs "NAME[:key=value,...]" (drafters/drafter_params.h), the names the
// CLI and experiment specs use. "none" (or "ar") means autoregressive: a null drafter.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_weights.h"
#include "model/model_info.h"
#include "drafters/drafter.h"
#include "drafters/drafter_params.h"

namespace speclab {

struct DrafterEnv {
  const ModelInfo* target = nullptr;  // the target's info (vocab checks)
  std::string draft_model_path;       // for draft-model (also settable as model=PATH)
  int n_threads = 1;
  // The target's weights (heads check their fingerprint and read embeddings / classifier).
  // May be null when the target is not a LlamaModel; drafters that need it then throw Error.
  std::shared_ptr<const LlamaWeights> target_weights;
};

// Known drafter names, for help and error messages.
std::vector<std::string> drafter_names();

// Checks a spec without building anything expensive (no model loading): name known, keys
// known, values valid. Throws Error.
void validate_drafter_spec(const std::string& spec, const DrafterEnv& env);

// Builds the drafter (nullptr for "none"). Throws Error for unknown names/keys/bad values.
std::unique_ptr<Drafter> make_drafter(const std::string& spec, const DrafterEnv& env);

}  // namespace speclab
