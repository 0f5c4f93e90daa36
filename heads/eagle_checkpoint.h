// Published EAGLE-1/2 checkpoints (SafeAILab/EAGLE; Hugging Face repositories such as
// yuhuili/EAGLE-Vicuna-7B-v1.3, yuhuili/EAGLE-llama2-chat-7B) as heads/eagle_head.h EagleWeights,
// and the one entry point that reads either EAGLE head layout.
//
// Layout accepted (a directory DIR):
//   DIR/config.json        a Hugging Face LlamaConfig of the head (the target's config with
//                          num_hidden_layers = 1), read with formats/hf_config.h parse_hf_config:
//                          hidden_size -> dim, intermediate_size -> hidden_dim,
//                          num_attention_heads -> n_heads, num_key_value_heads -> n_kv_heads
//                          (absent: num_attention_heads), head_dim (absent: hidden_size /
//                          num_attention_heads), vocab_size, rms_norm_eps -> norm_eps (absent:
//                          1e-6), rope_theta (absent: 10000), rope_scaling; plus EAGLE's own
//                          "bias" (fc bias; absent: true, as EAGLE's ea_model.py). "architectures"
//                          may be absent (then LlamaForCausalLM). hidden_act must be silu,
//                          num_hidden_layers must be 1; EAGLE-3 configs (an "Eagle3" architecture
//                          or a draft_vocab_size field) are refused. torch_dtype is not read (each
//                          tensor's dtype is in the safetensors header).
//   DIR/model.safetensors  the head's state dict (safetensors, memory-mapped): fc.weight
//                          [dim, 2 dim], fc.bias [dim] (iff bias), layers.0.self_attn.{q,k,v,o}_proj
//                          .weight, layers.0.post_attention_layernorm.weight [dim],
//                          layers.0.mlp.{gate,up,down}_proj.weight; optional and IGNORED:
//                          embed_tokens.weight [vocab, dim] (a frozen copy of the target's table;
//                          the head reads the target's own) and layers.0.input_layernorm.weight
//                          [dim] (EAGLE-1/2's layer 0 never applies an input norm: cnets.py skips
//                          it for index 0, so the head is built with input_norm = false whatever
//                          the file holds). q/k/v biases (layers.0.self_attn.{q,k,v}_proj.bias)
//                          are used when the file holds them (all three then required; EAGLE-1/2
//                          heads have none). Any other tensor is an error (EAGLE loads its state
//                          dict strictly). Matrices stay in their stored type (F32 / F16 / BF16);
//                          norms and biases are converted to fp32.
// Mapping: rope_style = RopeStyle::kHalfSplit (Hugging Face q/k layout, rotate_half pairing,
// whatever the target's own file format), rope scaling = the target's (EagleHead rotates with
// the target's scaling, so a config rope_scaling that differs from the target's is an error).
//
// No target fingerprint: published files do not record which weights the head was trained on,
// so the target check is by shapes only: hidden_size, vocab_size, num_attention_heads,
// num_key_value_heads and head_dim must equal the target's (a published EAGLE config copies its
// target's); a head trained for another model of the same shape loads and drafts poorly (still
// lossless). The loaded config's model_fingerprint is set to the target's, so that
// save_eagle_head writes a speclab-layout copy that loads for this target.
//
// Pickle checkpoints (pytorch_model.bin, *.bin, *.pt, *.pth) are never read (unpickling runs
// code): a directory without model.safetensors but with one of them is an error naming the file
// and saying to convert it to model.safetensors.
//
// Every failure throws speclab::Error naming the file, the field or tensor, the value and the rule.
#pragma once
#include <string>
#include <string_view>

#include "heads/eagle_head.h"
#include "model/model_info.h"

namespace speclab {

// A published config.json mapped to EagleConfig (qkv_bias false and model_fingerprint empty:
// both are filled at load time), with what is checked against the target.
struct PublishedEagleConfig {
  EagleConfig config;
  RopeScaling rope_scaling;  // as declared (EagleHead uses the target's; they must agree)
};

// Parses config.json text; `source` names the file in messages. Checks only the text itself
// (types, ranges, EAGLE-1/2 rules above); throws Error naming `source` and the field.
PublishedEagleConfig parse_published_eagle_config(std::string_view json_text, const std::string& source);
// Throws Error naming `source`, the field, its value and the target's when the config does not
// fit `target` (dim, vocab, heads, KV heads, head_dim, rope scaling).
void check_published_eagle_config(const PublishedEagleConfig& c, const ModelInfo& target, const std::string& source);

// Reads DIR/config.json + DIR/model.safetensors for `target` (see the top of this file).
EagleWeights load_published_eagle_head(const std::string& dir, const LlamaWeights& target);

// Either layout: speclab's (DIR/eagle.json + DIR/eagle.safetensors, heads/eagle_head.h) when
// DIR/eagle.json exists, else the published one when DIR/config.json exists; else an Error naming
// DIR and both layouts.
// Config only (cheap; no tensors): speclab layout read_eagle_config (the fingerprint is checked
// by load_eagle_head); published layout parsed and checked against `target` by shapes.
EagleConfig read_eagle_dir_config(const std::string& dir, const ModelInfo& target);
EagleWeights load_eagle_dir(const std::string& dir, const LlamaWeights& target);

// Why DIR holds no EAGLE head of either layout, for experiments that skip a drafter whose files
// are absent: "" when DIR has eagle.json + eagle.safetensors, or config.json + model.safetensors,
// or config.json + a pickle checkpoint (loading then fails with the conversion error rather
// than being skipped); else e.g. "eagle.safetensors missing". Never throws.
std::string missing_eagle_files(const std::string& dir);

}  // namespace speclab
