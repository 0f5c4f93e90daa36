#include "formats/model_loader.h"

#include <cstring>
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "base/error.h"
#include "formats/gguf_weights.h"
#include "formats/hf_loader.h"
#include "formats/llama2c_weights.h"
#include "formats/mapped_file.h"

namespace speclab {

ModelFileKind detect_model_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return ModelFileKind::kHuggingFaceDir;
  const MappedFile f(path);
  if (f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0) return ModelFileKind::kGguf;
  return ModelFileKind::kLlama2c;  // "ak42" magic or legacy headerless v0
}

LlamaWeights load_weights(const std::string& path) {
  switch (detect_model_file(path)) {
    case ModelFileKind::kGguf:
      return load_gguf(path);
    case ModelFileKind::kLlama2c:
      return load_llama2c(path);
    case ModelFileKind::kHuggingFaceDir:
      return load_hf_directory(path);
  }
  fail("{}: unknown model file kind", path);
}

std::shared_ptr<const LlamaWeights> load_weights_shared(const std::string& path) {
  return std::make_shared<const LlamaWeights>(load_weights(path));
}

std::string check_weight_dtype(const std::string& value, const std::string& what) {
  if (value.empty() || value == "stored") return "";
  const std::optional<DType> t = dtype_from_name(value);
  if (!t || *t == DType::kQ8_0F) {
    return fmt::format("{} = {}: unknown weight type (stored, {})", what, value, dtype_names());
  }
  return "";
}

std::shared_ptr<const LlamaWeights> load_weights_shared(const std::string& path,
                                                        const WeightLoadOptions& opts) {
  const std::string problem = check_weight_dtype(opts.dtype, "dtype");
  if (!problem.empty()) fail("{}", problem);
  LlamaWeights w = load_weights(path);
  if (opts.dtype.empty() || opts.dtype == "stored") {
    return std::make_shared<const LlamaWeights>(std::move(w));
  }
  WeightConversion conv;
  conv.dtype = *dtype_from_name(opts.dtype);
  conv.n_threads = std::max(1, opts.n_threads);
  return std::make_shared<const LlamaWeights>(convert_weights(w, conv));
}

}  // namespace speclab
