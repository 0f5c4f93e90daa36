#include "tokenizers/chat_template.h"

#include <filesystem>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

namespace {

using OJson = nlohmann::ordered_json;

constexpr const char* kSpecialTokenNames[] = {"bos_token", "eos_token", "unk_token", "pad_token",
                                              "sep_token", "cls_token", "mask_token"};

struct DepthExceeded {};

// parse_json (base/json_input.h) for documents whose key order matters (messages, tools).
OJson parse_ordered_json(std::string_view text, const std::string& what) {
  const OJson::parser_callback_t limit = [](int depth, OJson::parse_event_t event, OJson&) {
    if ((event == OJson::parse_event_t::object_start || event == OJson::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      throw DepthExceeded{};
    }
    return true;
  };
  try {
    return OJson::parse(text.begin(), text.end(), limit);
  } catch (const DepthExceeded&) {
    fail("{}: JSON nested deeper than {} levels (the limit for untrusted input)", what, kMaxJsonDepth);
  } catch (const OJson::parse_error& e) {
    fail("{}: not valid JSON at byte {}: {}", what, e.byte > 0 ? e.byte - 1 : 0, quote_untrusted(e.what(), 200));
  } catch (const OJson::exception& e) {
    fail("{}: not valid JSON: {}", what, quote_untrusted(e.what(), 200));
  }
}

// Special tokens of a parsed tokenizer_config.json: strings or {"content": ...} objects.
std::vector<std::pair<std::string, std::string>> config_special_tokens(const nlohmann::json& cfg,
                                                                       const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!cfg.is_object()) return out;
  for (const char* name : kSpecialTokenNames) {
    if (!cfg.contains(name)) continue;
    const nlohmann::json& v = cfg[name];
    if (v.is_string()) {
      out.emplace_back(name, v.get<std::string>());
    } else if (v.is_object() && v.contains("content")) {
      out.emplace_back(name, json_string(v["content"], where, std::string(name) + ".content"));
    } else if (!v.is_null()) {
      fail("{}: {} = {}: must be a string, an object with \"content\" or null", where, name, json_excerpt(v));
    }
  }
  return out;
}

// The chat_template entry of a tokenizer_config.json: a string or a list of named templates.
std::optional<std::string> config_template(const nlohmann::json& cfg, const std::string& where, const std::string& name) {
  if (!cfg.is_object() || !cfg.contains("chat_template") || cfg["chat_template"].is_null()) return std::nullopt;
  const nlohmann::json& t = cfg["chat_template"];
  if (t.is_string()) {
    if (!name.empty() && name != "default") {
      fail("{}: chat_template is a single template; there is no template named '{}'", where, name);
    }
    return t.get<std::string>();
  }
  if (!t.is_array()) fail("{}: chat_template = {}: must be a string or a list of {{name, template}}", where, json_excerpt(t));
  const std::string want = name.empty() ? "default" : name;
  std::string names;
  for (const nlohmann::json& e : t) {
    if (!e.is_object() || !e.contains("name") || !e.contains("template")) {
      fail("{}: chat_template entry {}: must be an object with \"name\" and \"template\"", where, json_excerpt(e));
    }
    const std::string& n = json_string(e["name"], where, "chat_template name");
    if (n == want) return json_string(e["template"], where, "chat_template template");
    names += (names.empty() ? "" : ", ") + n;
  }
  fail("{}: chat_template has no template named '{}' (it has: {})", where, want, names);
}

nlohmann::json read_config(const std::string& path) {
  return parse_json(read_input_file(path, kMaxTextInputBytes, "a tokenizer_config.json"), path);
}

std::string read_template_file(const std::string& path) {
  return read_input_file(path, std::uint64_t{1} << 20, "a chat template");
}

}  // namespace

std::tm chat_date(const std::string& date, const std::string& what) {
  auto bad = [&]() -> void {
    fail("{} = '{}': must be a date YYYY-MM-DD (e.g. 2024-07-26)", what, quote_untrusted(date));
  };
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') bad();
  for (int k : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (date[static_cast<std::size_t>(k)] < '0' || date[static_cast<std::size_t>(k)] > '9') bad();
  }
  const int y = std::stoi(date.substr(0, 4)), m = std::stoi(date.substr(5, 2)), d = std::stoi(date.substr(8, 2));
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap)) bad();
  // Days since 1970-01-01 (Howard Hinnant's days_from_civil) give the weekday.
  const int yy = y - (m <= 2);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const long days = static_cast<long>(era) * 146097 + doe - 719468;
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = m - 1;
  t.tm_mday = d;
  t.tm_wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  int yday = d - 1;
  for (int k = 0; k < m - 1; ++k) yday += kDays[k] + (k == 1 && leap);
  t.tm_yday = yday;
  t.tm_isdst = 0;
  return t;
}

ChatTemplate::ChatTemplate(std::string source, std::string origin,
                           std::vector<std::pair<std::string, std::string>> special_tokens)
    : source_(std::move(source)), origin_(std::move(origin)), special_(std::move(special_tokens)) {
  tmpl_ = std::make_shared<const jinja::Template>(source_, origin_);
}

std::string ChatTemplate::special_token(const std::string& name) const {
  for (const auto& [k, v] : special_) {
    if (k == name) return v;
  }
  return {};
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatRenderOptions& opts) const {
  if (!messages.is_array()) fail("{}: messages must be a JSON array, got {}", origin_, messages.type_name());
  jinja::Context ctx;
  ctx.now = opts.now;
  ctx.set("messages", jinja::from_json(messages));
  ctx.set("tools", jinja::Value::none());
  ctx.set("documents", jinja::Value::none());
  ctx.set("add_generation_prompt", jinja::Value::boolean(opts.add_generation_prompt));
  for (const auto& [k, v] : special_) ctx.set(k, jinja::Value::string(v));
  if (opts.bos_token) ctx.set("bos_token", jinja::Value::string(*opts.bos_token));
  if (opts.eos_token) ctx.set("eos_token", jinja::Value::string(*opts.eos_token));
  if (opts.extra.is_object()) {
    for (auto it = opts.extra.begin(); it != opts.extra.end(); ++it) ctx.set(it.key(), jinja::from_json(it.value()));
  }
  // Later entries win (the Renderer copies them in order).
  return tmpl_->render(ctx);
}

std::optional<ChatTemplate> load_model_chat_template(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  const fs::path jinja_path = fs::path(dir) / "chat_template.jinja";
  nlohmann::json cfg;
  std::vector<std::pair<std::string, std::string>> special;
  const bool have_config = fs::exists(config_path, ec);
  if (have_config) {
    cfg = read_config(config_path.string());
    special = config_special_tokens(cfg, config_path.string());
  }
  if (fs::exists(jinja_path, ec)) {
    return ChatTemplate(read_template_file(jinja_path.string()), jinja_path.string(), std::move(special));
  }
  if (!have_config) return std::nullopt;
  std::optional<std::string> src = config_template(cfg, config_path.string(), name);
  if (!src) return std::nullopt;
  return ChatTemplate(std::move(*src), config_path.string() + " (chat_template)", std::move(special));
}

ChatTemplate load_chat_template(const std::string& path, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::optional<ChatTemplate> t = load_model_chat_template(path, name);
    if (!t) fail("{}: model directory has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json)", path);
    return std::move(*t);
  }
  const std::string text = read_template_file(path);
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{' && text.compare(first, 2, "{{") != 0 &&
      text.compare(first, 2, "{%") != 0 && text.compare(first, 2, "{#") != 0) {
    const nlohmann::json cfg = parse_json(text, path);
    std::optional<std::string> src = config_template(cfg, path, name);
    if (!src) fail("{}: JSON file without a chat_template", path);
    return ChatTemplate(std::move(*src), path + " (chat_template)", config_special_tokens(cfg, path));
  }
  std::vector<std::pair<std::string, std::string>> special;
  const fs::path beside = fs::path(path).parent_path() / "tokenizer_config.json";
  if (fs::exists(beside, ec)) special = config_special_tokens(read_config(beside.string()), beside.string());
  return ChatTemplate(text, path, std::move(special));
}

nlohmann::ordered_json parse_messages(std::string_view text, const std::string& what, nlohmann::ordered_json* extra) {
  OJson j = parse_ordered_json(text, what);
  OJson messages;
  if (j.is_object()) {
    if (!j.contains("messages")) fail("{}: an object must have \"messages\" (and optionally more template variables)", what);
    messages = j["messages"];
    if (extra) {
      *extra = OJson::object();
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() != "messages") (*extra)[it.key()] = it.value();
      }
    }
  } else {
    messages = std::move(j);
  }
  if (!messages.is_array()) fail("{}: messages must be a JSON array of {{\"role\", \"content\"}} objects", what);
  for (std::size_t k = 0; k < messages.size(); ++k) {
    if (!messages[k].is_object()) fail("{}: messages[{}] = {}: must be an object", what, k, quote_untrusted(messages[k].dump(), 80));
  }
  return messages;
}

std::vector<Token> encode_rendering(const Tokenizer& tok, std::string_view rendering) {
  return tok.encode(rendering, /*add_bos=*/false);
}

}  // namespace speclab
