// A weight matrix in its stored type: [rows, cols] row-major, each row `row_bytes()` bytes in
// the layout of its DType (ops/quant.h: f32, f16, bf16, or ggml blocks along the row). The
// bytes are immutable and shared: a WeightMatrix is either a view into a memory-mapped file
// (kept alive by a shared owner, no copy) or owns a buffer; copying one shares the bytes.
// LlamaWeights holds its projections, embedding and classifier as WeightMatrix; the matmul
// kernels (ops/matmul.h) read them through WeightView.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ops/quant.h"

namespace speclab {

// What a kernel needs: a non-owning view.
struct WeightView {
  DType dtype = DType::kF32;
  const std::uint8_t* data = nullptr;
  std::int32_t rows = 0;
  std::int32_t cols = 0;
  std::size_t row_bytes = 0;  // bytes from one row to the next

  const std::uint8_t* row(std::int64_t r) const {
    return data + static_cast<std::size_t>(r) * row_bytes;
  }
};

class WeightMatrix {
 public:
  WeightMatrix() = default;
  // fp32 values [rows, cols], owned. values.size() must be rows * cols (SPECLAB_ASSERT).
  static WeightMatrix from_f32(std::int64_t rows, std::int64_t cols, std::vector<float> values);
  // Raw bytes in `dtype`'s layout, owned; bytes.size() must be rows * dtype_row_bytes(cols).
  static WeightMatrix from_bytes(DType dtype, std::int64_t rows, std::int64_t cols,
                                 std::vector<std::uint8_t> bytes);
  // A view of rows * dtype_row_bytes(cols) bytes at `data`, kept alive by `owner` (e.g. the
  // memory map of the file). The caller has checked that the bytes lie inside the file.
  static WeightMatrix view(DType dtype, std::int64_t rows, std::int64_t cols,
                           const std::uint8_t* data, std::shared_ptr<const void> owner);

  bool empty() const { return rows_ == 0; }
  DType dtype() const { return dtype_; }
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t size() const { return rows_ * cols_; }  // elements
  std::size_t row_bytes() const { return row_bytes_; }
  std::size_t n_bytes() const { return row_bytes_ * static_cast<std::size_t>(rows_); }
  const std::uint8_t* data() const { return data_; }
  const std::uint8_t* row(std::int64_t r) const {
    return data_ + static_cast<std::size_t>(r) * row_bytes_;
  }
  bool is_mapped() const { return mapped_; }
  WeightView view() const;

  // The fp32 values; dtype() must be kF32 (SPECLAB_ASSERT).
  const float* f32() const;
  // Row r dequantised to fp32 (cols() floats).
  void dequantize_row(std::int64_t r, float* out) const;
  // All values as fp32 (a copy).
  std::vector<float> to_f32() const;
  // This matrix stored as `dtype` (dequantise to fp32, then quantise each row with our own
  // quantisers); shares the bytes when dtype == dtype(). Throws Error when cols() does not fit
  // the block size of `dtype` (see dtype_fits).
  WeightMatrix converted(DType dtype) const;

  // Element-wise equality of type, shape and bytes (tests).
  friend bool operator==(const WeightMatrix& a, const WeightMatrix& b);

 private:
  DType dtype_ = DType::kF32;
  std::int64_t rows_ = 0, cols_ = 0;
  std::size_t row_bytes_ = 0;
  const std::uint8_t* data_ = nullptr;
  bool mapped_ = false;
  std::shared_ptr<const void> owner_;
};

}  // namespace speclab
