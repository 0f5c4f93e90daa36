// Human-readable exports of a draft tree: indented text and Graphviz DOT. Tokens are shown as
// ids, plus their text when a decoder is given. An optional Acceptance highlights the accepted
// path (and names the bonus token).
#pragma once
#include <functional>
#include <string>

#include "trees/draft_tree.h"

namespace speclab {

using TokenDecoder = std::function<std::string(Token)>;

// One line per node in depth-first order, indented two spaces per depth:
//   "#3 d2 tok 17 'the' score -1.25 [accepted]". Empty decoder: ids only.
std::string tree_to_text(const DraftTree& tree, const TokenDecoder& decode = {},
                         const Acceptance* acceptance = nullptr);

// A Graphviz digraph: node "n<i>" labelled with id/text/score, edges parent -> child; accepted
// nodes are filled, the bonus (if any) is a dashed extra node. Labels are escaped.
std::string tree_to_dot(const DraftTree& tree, const TokenDecoder& decode = {},
                        const Acceptance* acceptance = nullptr);

}  // namespace speclab
