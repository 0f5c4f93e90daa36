#include "ops/weight_matrix.h"

#include <cstring>

#include "base/error.h"

namespace speclab {

WeightMatrix WeightMatrix::from_f32(std::int64_t rows, std::int64_t cols,
                                    std::vector<float> values) {
  SPECLAB_ASSERT(rows >= 0 && cols >= 0 &&
                 static_cast<std::int64_t>(values.size()) == rows * cols);
  auto owned = std::make_shared<const std::vector<float>>(std::move(values));
  WeightMatrix m;
  m.dtype_ = DType::kF32;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = static_cast<std::size_t>(cols) * sizeof(float);
  m.data_ = reinterpret_cast<const std::uint8_t*>(owned->data());
  m.owner_ = std::move(owned);
  return m;
}

WeightMatrix WeightMatrix::from_bytes(DType dtype, std::int64_t rows, std::int64_t cols,
                                      std::vector<std::uint8_t> bytes) {
  SPECLAB_ASSERT(rows >= 0 && cols >= 0);
  const std::size_t rb = dtype_row_bytes(dtype, cols);
  SPECLAB_ASSERT(bytes.size() == rb * static_cast<std::size_t>(rows));
  auto owned = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  WeightMatrix m;
  m.dtype_ = dtype;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = rb;
  m.data_ = owned->data();
  m.owner_ = std::move(owned);
  return m;
}

WeightMatrix WeightMatrix::view(DType dtype, std::int64_t rows, std::int64_t cols,
                                const std::uint8_t* data, std::shared_ptr<const void> owner) {
  SPECLAB_ASSERT(rows >= 0 && cols >= 0 && owner != nullptr);
  WeightMatrix m;
  m.dtype_ = dtype;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = dtype_row_bytes(dtype, cols);
  m.data_ = data;
  m.mapped_ = true;
  m.owner_ = std::move(owner);
  return m;
}

WeightView WeightMatrix::view() const {
  return WeightView{dtype_, data_, static_cast<std::int32_t>(rows_),
                    static_cast<std::int32_t>(cols_), row_bytes_};
}

const float* WeightMatrix::f32() const {
  SPECLAB_ASSERT(dtype_ == DType::kF32);
  return reinterpret_cast<const float*>(data_);
}

void WeightMatrix::dequantize_row(std::int64_t r, float* out) const {
  SPECLAB_ASSERT(r >= 0 && r < rows_);
  speclab::dequantize_row(dtype_, data_ + static_cast<std::size_t>(r) * row_bytes_, out, cols_);
}

std::vector<float> WeightMatrix::to_f32() const {
  std::vector<float> out(static_cast<std::size_t>(rows_ * cols_));
  for (std::int64_t r = 0; r < rows_; ++r) {
    dequantize_row(r, out.data() + static_cast<std::size_t>(r * cols_));
  }
  return out;
}

WeightMatrix WeightMatrix::converted(DType dtype) const {
  if (dtype == dtype_) return *this;
  const std::size_t rb = dtype_row_bytes(dtype, cols_);  // throws when cols do not fit
  if (dtype == DType::kF32) return from_f32(rows_, cols_, to_f32());
  std::vector<std::uint8_t> bytes(rb * static_cast<std::size_t>(rows_));
  std::vector<float> row(static_cast<std::size_t>(cols_));
  for (std::int64_t r = 0; r < rows_; ++r) {
    dequantize_row(r, row.data());
    quantize_row(dtype, row.data(), bytes.data() + static_cast<std::size_t>(r) * rb, cols_);
  }
  return from_bytes(dtype, rows_, cols_, std::move(bytes));
}

bool operator==(const WeightMatrix& a, const WeightMatrix& b) {
  return a.dtype_ == b.dtype_ && a.rows_ == b.rows_ && a.cols_ == b.cols_ &&
         (a.n_bytes() == 0 || std::memcmp(a.data_, b.data_, a.n_bytes()) == 0);
}

}  // namespace speclab
