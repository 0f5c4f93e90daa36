// Untrusted inputs: bounded JSON (base/json_input.h) and regular files only (base/input_file.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJson, AcceptsNestingUpToTheLimit) {
  EXPECT_NO_THROW(parse_json(nested(kMaxJsonDepth), "x.json"));
  EXPECT_NO_THROW(parse_json("{\"a\": {\"b\": [1, 2, {\"c\": null}]}}", "x.json"));
}

TEST(ParseJson, RefusesDeeperNestingWhileParsing) {
  EXPECT_NE(message_of([] { parse_json(nested(kMaxJsonDepth + 1), "deep.json"); })
                .find("deep.json: JSON nested deeper than 128 levels"),
            std::string::npos);
  // 100,000 levels (the stack-overflow input of issue 14), arrays and objects mixed.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += i % 2 ? "[" : "{\"k\":";
  EXPECT_NE(message_of([&] { parse_json(deep, "deep.json"); }).find("nested deeper"), std::string::npos);
}

TEST(ParseJson, SyntaxErrorsAndHugeNumbersAreErrorsNamingTheInput) {
  EXPECT_NE(message_of([] { parse_json("{\"a\": 1e400}", "config.json"); }).find("config.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_json("{\"a\": ", "spec"); }).find("spec: not valid JSON"), std::string::npos);
  // The quoted parser message is cut.
  const std::string long_token = "[\"" + std::string(5000, 'x');
  EXPECT_LT(message_of([&] { parse_json(long_token, "t.json"); }).size(), 400u);
}

TEST(JsonInteger, ChecksTypeAndRange) {
  using nlohmann::json;
  EXPECT_EQ(json_integer<std::int32_t>(json(7), "f", "x"), 7);
  EXPECT_EQ(json_integer<std::int32_t>(json(2.0), "f", "x"), 2);
  EXPECT_EQ(json_integer<std::int32_t>(json(-5), "f", "x"), -5);
  EXPECT_EQ(json_integer<std::uint64_t>(json(18446744073709551615ull), "f", "x"), 18446744073709551615ull);
  EXPECT_NE(message_of([] { json_integer<std::int32_t>(json(4294967297ll), "tok.json", "vocab[a]"); })
                .find("tok.json: vocab[a] = 4294967297: must be an integer in [-2147483648, 2147483647]"),
            std::string::npos);
  EXPECT_THROW(json_integer<std::int32_t>(json(1e100), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::int64_t>(json(9.3e18), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::int32_t>(json(1.5), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::int32_t>(json("7"), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::uint32_t>(json(-1), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::int32_t>(json(nullptr), "f", "x"), Error);
  EXPECT_THROW(json_integer<std::int32_t>(json(5), "f", "x", 0, 4), Error);
  EXPECT_NE(message_of([] { json_number(json("a"), "f", "t"); }).find("f: t = \"a\": must be a number"),
            std::string::npos);
  EXPECT_THROW(json_number(json(3.0), "f", "t", 0, 2), Error);
}

TEST(QuoteUntrusted, CutsAndHidesControlCharacters) {
  EXPECT_EQ(quote_untrusted("a\nb"), "a?b");
  const std::string q = quote_untrusted(std::string(500, 'y'));
  EXPECT_EQ(q, std::string(80, 'y') + "...");
  // Never ends inside a UTF-8 sequence ("é" is two bytes).
  std::string s(79, 'a');
  s += "\xc3\xa9zzz";
  const std::string cut = quote_untrusted(s);
  EXPECT_EQ(cut, std::string(79, 'a') + "...");
}

class InputFileTest : public ::testing::Test {
 protected:
  std::string dir = (std::filesystem::temp_directory_path() / ("speclab-input-" + std::to_string(::getpid()))).string();
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(InputFileTest, ReadsRegularFiles) {
  const std::string p = dir + "/a.txt";
  std::ofstream(p) << "hello";
  EXPECT_EQ(read_input_file(p), "hello");
  EXPECT_NE(message_of([&] { read_input_file(p, 3, "a prompt set"); })
                .find("size 5 bytes: larger than the limit of 3 bytes for a prompt set"),
            std::string::npos);
}

TEST_F(InputFileTest, RefusesFifosDevicesDirectoriesAndSocketsWithoutBlocking) {
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever in open() or read() if it were opened like a file.
  EXPECT_NE(message_of([&] { read_input_file(fifo); }).find("fifo: is a FIFO, expected a regular file"),
            std::string::npos);
  EXPECT_NE(message_of([] { read_input_file("/dev/zero"); }).find("/dev/zero: is a character device"),
            std::string::npos);
  EXPECT_NE(message_of([&] { read_input_file(dir); }).find("is a directory"), std::string::npos);
  EXPECT_NE(message_of([&] { read_input_file(dir + "/missing"); }).find("missing: cannot open"), std::string::npos);
  const std::string sock = dir + "/s";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  if (sock.size() < sizeof addr.sun_path && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    EXPECT_NE(message_of([&] { read_input_file(sock); }).find("is a socket"), std::string::npos);
  }
  ::close(fd);
}

}  // namespace
}  // namespace speclab
