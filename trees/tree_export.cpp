#include "trees/tree_export.h"

#include <fmt/format.h>

#include <vector>

namespace speclab {

namespace {

std::vector<bool> accepted_flags(const DraftTree& tree, const Acceptance* acceptance) {
  std::vector<bool> on(tree.size(), false);
  if (acceptance) {
    for (const std::int32_t i : acceptance->path) {
      if (i >= 0 && i < tree.size()) on[i] = true;
    }
  }
  return on;
}

// Escapes text for a DOT double-quoted label; control bytes become \xNN.
std::string dot_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";  // DOT line break
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\\\x{:02x}", c);  // shown literally as \xNN
    } else {
      out += ch;
    }
  }
  return out;
}

// Escapes text for the text export (quotes kept visible, control bytes as \xNN).
std::string text_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

void text_node(const DraftTree& tree, const std::vector<std::vector<std::int32_t>>& kids,
               const TokenDecoder& decode, const std::vector<bool>& on, std::int32_t i,
               std::string& out) {
  out += std::string(2 * static_cast<std::size_t>(tree.depth[i]), ' ');
  out += fmt::format("#{} d{} tok {}", i, tree.depth[i], tree.token[i]);
  if (decode) out += fmt::format(" '{}'", text_escape(decode(tree.token[i])));
  if (tree.score[i] != 0.0f) out += fmt::format(" score {:.4g}", tree.score[i]);
  if (on[i]) out += " [accepted]";
  out += '\n';
  for (const std::int32_t c : kids[i]) text_node(tree, kids, decode, on, c, out);
}

}  // namespace

std::string tree_to_text(const DraftTree& tree, const TokenDecoder& decode,
                         const Acceptance* acceptance) {
  tree.validate();
  std::vector<std::vector<std::int32_t>> kids(tree.size());
  for (std::int32_t i = 1; i < tree.size(); ++i) kids[tree.parent[i]].push_back(i);
  const std::vector<bool> on = accepted_flags(tree, acceptance);
  std::string out = fmt::format("draft tree: {} nodes, depth {}, children {}\n", tree.size(),
                                tree.max_depth(), to_string(tree.children));
  text_node(tree, kids, decode, on, 0, out);
  if (acceptance && acceptance->bonus >= 0) {
    out += fmt::format("bonus tok {}", acceptance->bonus);
    if (decode) out += fmt::format(" '{}'", text_escape(decode(acceptance->bonus)));
    out += '\n';
  }
  return out;
}

std::string tree_to_dot(const DraftTree& tree, const TokenDecoder& decode,
                        const Acceptance* acceptance) {
  tree.validate();
  const std::vector<bool> on = accepted_flags(tree, acceptance);
  std::string out = "digraph draft_tree {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (std::int32_t i = 0; i < tree.size(); ++i) {
    std::string label = fmt::format("#{} tok {}", i, tree.token[i]);
    if (decode) label += fmt::format("\n'{}'", decode(tree.token[i]));
    if (tree.score[i] != 0.0f) label += fmt::format("\nscore {:.3g}", tree.score[i]);
    out += fmt::format("  n{} [label=\"{}\"{}];\n", i, dot_escape(label),
                       on[i] ? ", style=filled, fillcolor=\"palegreen\"" : "");
  }
  for (std::int32_t i = 1; i < tree.size(); ++i) {
    out += fmt::format("  n{} -> n{}{};\n", tree.parent[i], i,
                       on[i] && on[tree.parent[i]] ? " [penwidth=2]" : "");
  }
  if (acceptance && acceptance->bonus >= 0 && !acceptance->path.empty()) {
    std::string label = fmt::format("bonus tok {}", acceptance->bonus);
    if (decode) label += fmt::format("\n'{}'", decode(acceptance->bonus));
    out += fmt::format("  bonus [label=\"{}\", style=dashed];\n  n{} -> bonus [style=dashed];\n",
                       dot_escape(label), acceptance->path.back());
  }
  out += "}\n";
  return out;
}

}  // namespace speclab
