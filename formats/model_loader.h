// One entry point for every model file format, dispatching on content, not on the file name:
//   "GGUF" magic        -> load_gguf          (formats/gguf_weights.h)
//   "ak42" magic        -> load_llama2c v1/v2 (formats/llama2c_weights.h)
//   anything else       -> load_llama2c legacy v0 (its header checks reject garbage)
//   a directory         -> load_hf_directory  (formats/hf_loader.h: config.json + safetensors)
// Throws Error naming the path on any unreadable or invalid input.
#pragma once
#include <memory>
#include <string>

#include "model/llama_weights.h"

namespace speclab {

enum class ModelFileKind { kGguf, kLlama2c, kHuggingFaceDir };

// Sniffs the kind of `path` (reads at most 4 bytes). Throws Error if it cannot be opened.
ModelFileKind detect_model_file(const std::string& path);

LlamaWeights load_weights(const std::string& path);

std::shared_ptr<const LlamaWeights> load_weights_shared(const std::string& path);

// How a model's matrices are held after loading (`--dtype`, spec key `dtype`).
struct WeightLoadOptions {
  std::string dtype;  // "" or "stored": as in the file; else a name of ops/quant.h (f32, f16,
                      // bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k): converted / quantised at load
  int n_threads = 1;  // for the conversion (the result does not depend on it)
};

// Checks a --dtype value: "" / "stored" or a selectable type name. Returns the problem ("" if
// none), naming `what` (e.g. "--dtype" or "spec key dtype"), the value and the valid names.
std::string check_weight_dtype(const std::string& value, const std::string& what);

// Loads `path` and stores its matrices as opts.dtype (convert_weights; a matrix whose rows are
// not whole blocks of that type falls back to q8_0, else f16). Throws Error for a bad dtype.
std::shared_ptr<const LlamaWeights> load_weights_shared(const std::string& path,
                                                        const WeightLoadOptions& opts);

}  // namespace speclab
