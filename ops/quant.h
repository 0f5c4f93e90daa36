// Weight data types kept in their stored precision: the type table, the exact byte layout of each
// block, a scalar reference dequantiser and our own quantisers. The per-dtype SIMD kernels
// (ops/) and the readers (formats/) build on these; the scalar routines here are their
// reference twins and the load-time converters (`--dtype`).
//
// Layouts are byte-exact with the ggml block formats stored in GGUF files (llama.cpp
// ggml-common.h / ggml-quants.c; little-endian; "f16" is IEEE binary16 via base/half.h). A row of
// `cols` weights is cols / block_elems consecutive blocks, no padding. Per 256 weights:
//
//   type   block (elements -> bytes)                                        bytes / 256 weights
//   f32    1 -> 4   float                                                    1024
//   f16    1 -> 2   IEEE binary16                                             512
//   bf16   1 -> 2   bfloat16 (top half of an fp32)                            512
//   q8_0   32 -> 34 { f16 d; int8 qs[32]; }            x = d * qs[j]          272
//   q8_0f  32 -> 36 { float d; int8 qs[32]; }          x = d * qs[j]          288
//          (internal, no ggml id: llama2.c "version 2" Q8_0 groups with their fp32 scale,
//           repacked without any rounding; a group of 64 is two blocks with the same d)
//   q4_0   32 -> 18 { f16 d; uint8 qs[16]; }           element j < 16: low nibble of qs[j],
//                   element j + 16: high nibble of qs[j]; x = d * (nibble - 8)          144
//   q4_1   32 -> 20 { f16 d; f16 m; uint8 qs[16]; }    nibbles as q4_0; x = d * nibble + m  160
//   q4_k   256 -> 144 { f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128]; }             144
//          8 sub-blocks of 32, each with a 6-bit scale sc[i] and a 6-bit min mn[i]:
//            i < 4:  sc[i] = scales[i] & 63,  mn[i] = scales[i + 4] & 63
//            i >= 4: sc[i] = (scales[i + 4] & 15) | (scales[i - 4] >> 6) << 4
//                    mn[i] = (scales[i + 4] >> 4) | (scales[i] >> 6) << 4
//          (ggml's get_scale_min_k4). Group g = 0..3 covers elements 64g .. 64g + 63:
//          element 64g + l (l < 32) is the low nibble of qs[32g + l] (sub-block 2g), element
//          64g + 32 + l the high nibble (sub-block 2g + 1); x = d*sc[i] * q - dmin*mn[i].
//   q5_k   256 -> 176 { f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]; }  176
//          as q4_k, plus a 5th bit: element 64g + l has bit 2g of qh[l], element 64g + 32 + l
//          bit 2g + 1 of qh[l]; q = nibble + 16 * bit (0..31).
//   q6_k   256 -> 210 { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d; }            210
//          16 sub-blocks of 16: element e uses scales[e / 16]. Half h = 0..1 covers elements
//          128h .. 128h + 127; within it element l + 32k (l < 32, k = 0..3) has
//            low 4 bits: k=0 ql[64h + l] & 15, k=1 ql[64h + 32 + l] & 15,
//                        k=2 ql[64h + l] >> 4, k=3 ql[64h + 32 + l] >> 4
//            high 2 bits: (qh[32h + l] >> 2k) & 3
//          q6 = low | high << 4 (0..63); x = d*scales[e / 16] * (q6 - 32).
//
// Dequantised values are computed in fp32 in the order written above ((d*sc)*q - (dmin*mn) for
// the K-quants, d*q (+ m) for the others), matching ggml's reference dequantiser.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace speclab {

enum class DType : std::uint8_t { kF32, kF16, kBF16, kQ8_0, kQ8_0F, kQ4_0, kQ4_1, kQ4_K, kQ5_K, kQ6_K };

struct DTypeTraits {
  DType type;
  const char* name;           // "f32", "f16", "bf16", "q8_0", "q8_0f", "q4_0", "q4_1", "q4_k", ...
  std::int32_t block_elems;   // 1 for f32/f16/bf16, 32 for q8_0/q8_0f/q4_0/q4_1, 256 for K-quants
  std::int32_t block_bytes;   // 4, 2, 2, 34, 36, 18, 20, 144, 176, 210
  std::int32_t ggml_id;       // ggml_type id in GGUF tensor infos; -1 for q8_0f
};

// The table entry of t (static storage, never null).
const DTypeTraits& dtype_traits(DType t);
std::string_view dtype_name(DType t);
// Any name above, case-insensitive ("Q4_K", "q4_k", "BF16"); nullopt for anything else.
std::optional<DType> dtype_from_name(std::string_view name);
// The DType of a GGUF tensor's ggml_type id; nullopt for ids we do not support.
std::optional<DType> dtype_from_ggml(std::uint32_t ggml_id);
// "f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k": the user-selectable types (q8_0f is an
// internal repacking), for error messages.
std::string dtype_names();
// Whether a row of `cols` weights is a whole number of blocks (cols >= 0).
bool dtype_fits(DType t, std::int64_t cols);
// Bytes of one row of `cols` weights. Throws Error naming the type, cols and the block size when
// !dtype_fits(t, cols).
std::size_t dtype_row_bytes(DType t, std::int64_t cols);

// Scalar reference twins. n >= 0 is a multiple of block_elems (always-on assert); src / dst are
// raw bytes in the layout above (any alignment), n / block_elems blocks.
//
// dequantize_row: dst[0..n) = the values the blocks encode (f16 / bf16 exactly widened).
void dequantize_row(DType t, const void* src, float* dst, std::int64_t n);

// quantize_row: our own quantisers (ops/quant.cpp documents each method and its error bound).
// f32 copies; f16 / bf16 round to nearest even and saturate at the largest finite value, so
// finite input never gives inf or NaN (likewise every block format: scales saturate at the
// largest finite f16). Deterministic: the same input gives the same bytes.
void quantize_row(DType t, const float* src, void* dst, std::int64_t n);

}  // namespace speclab
