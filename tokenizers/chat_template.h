// Chat templates as Hugging Face transformers renders them (apply_chat_template with
// tokenize=False): the model's Jinja template (tokenizers/jinja.h) over the variables
// `messages`, `add_generation_prompt`, `tools` and `documents` (none unless given), the special
// tokens of tokenizer_config.json (`bos_token`, `eos_token`, `unk_token`, `pad_token`, ...) and
// any extra variables, with the globals raise_exception(msg) and strftime_now(fmt).
//
// Where a model directory keeps its template (first found wins, as transformers loads them):
//   <dir>/chat_template.jinja, then <dir>/tokenizer_config.json "chat_template": a string, or a
//   list of {"name", "template"} from which "default" is taken (or the one named by the caller).
// A template file given directly may be a .jinja text or a tokenizer_config.json.
//
// Tokenizing a rendering: encode_rendering() encodes it without adding BOS (transformers calls
// the tokenizer with add_special_tokens=False): a template that wants BOS writes bos_token,
// whose text the tokenizer maps to the BOS id like every special token it knows (added tokens
// of tokenizer.json are matched in the raw text), so BOS appears exactly as often as the
// template writes it.
#pragma once
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizers/jinja.h"
#include "tokenizers/tokenizer.h"

namespace speclab {

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::optional<std::string> bos_token;  // override tokenizer_config.json's
  std::optional<std::string> eos_token;
  std::tm now{};                          // what strftime_now() formats (see chat_date)
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more variables (tools, ...)
};

// Midnight of `date` ("YYYY-MM-DD") as a broken-down time (weekday and day of year filled).
// Throws Error naming `what` for anything else or an impossible date.
std::tm chat_date(const std::string& date, const std::string& what);

class ChatTemplate {
 public:
  // `source` is the template text; `origin` names it in errors. `special_tokens` are the
  // variables bos_token / eos_token / ... (name -> text).
  ChatTemplate(std::string source, std::string origin,
               std::vector<std::pair<std::string, std::string>> special_tokens = {});

  // Renders `messages` (a JSON array of {role, content, ...} objects, passed as they are).
  // Throws Error "<origin>:<line>: ..." for template errors (raise_exception included).
  std::string render(const nlohmann::ordered_json& messages, const ChatRenderOptions& opts) const;

  const std::string& origin() const { return origin_; }
  const std::string& source() const { return source_; }
  // The template's special-token text (tokenizer_config.json), "" when absent.
  std::string special_token(const std::string& name) const;

 private:
  std::string source_;
  std::string origin_;
  std::vector<std::pair<std::string, std::string>> special_;
  std::shared_ptr<const jinja::Template> tmpl_;
};

// The chat template of a model directory, or nullopt when it has none. `name` picks a named
// template from a list ("" = "default"). Throws Error for malformed files.
std::optional<ChatTemplate> load_model_chat_template(const std::string& dir, const std::string& name = "");

// A template given by path: a directory (as above; Error when it has none), a JSON file
// (tokenizer_config.json: its chat_template and special tokens) or a Jinja text file. Special
// tokens of a tokenizer_config.json beside a .jinja file are used too.
ChatTemplate load_chat_template(const std::string& path, const std::string& name = "");

// The conversation of a messages file: a JSON array of messages, or an object with "messages"
// and optionally more template variables (e.g. "tools"), which go to `extra`. Objects keep
// their key order. Throws Error naming `what` for anything else.
nlohmann::ordered_json parse_messages(std::string_view text, const std::string& what,
                                      nlohmann::ordered_json* extra = nullptr);

// Token ids of a rendering: encoded without adding BOS (see the header comment).
std::vector<Token> encode_rendering(const Tokenizer& tok, std::string_view rendering);

}  // namespace speclab
