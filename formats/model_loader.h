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

}  // namespace speclab
