// The folder layering of README "Architecture" (one CMake library per folder, arrows one way):
// every #include "FOLDER/..." in a library folder names the folder itself or one it may depend
// on. A new arrow is a deliberate edit of kAllowed below and of the README.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

// Direct dependencies per folder; the test allows their transitive closure.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"base", {}},
    {"ops", {"base"}},
    {"model", {"ops"}},
    {"formats", {"model"}},
    {"tokenizers", {"formats"}},
    {"synthetic", {"model"}},
    {"trees", {"base"}},
    {"heads", {"model", "formats"}},
    {"verifiers", {"trees", "model"}},
    {"drafters", {"trees", "heads"}},
    {"experiments", {"drafters", "verifiers", "synthetic", "tokenizers"}},
    {"app", {"experiments"}},
};

std::set<std::string> closure(const std::string& folder) {
  std::set<std::string> out = {folder};
  std::vector<std::string> todo = {folder};
  while (!todo.empty()) {
    const std::string f = todo.back();
    todo.pop_back();
    for (const auto& d : kAllowed.at(f)) {
      if (out.insert(d).second) todo.push_back(d);
    }
  }
  return out;
}

TEST(Architecture, IncludesFollowTheFolderLayering) {
  const fs::path root = SPECLAB_SOURCE_DIR;
  const std::regex include_re(R"re(^\s*#\s*include\s*"([a-z_]+)/)re");
  int n_files = 0, n_includes = 0;
  for (const auto& [folder, deps] : kAllowed) {
    ASSERT_TRUE(fs::is_directory(root / folder)) << folder;
    const std::set<std::string> ok = closure(folder);
    for (const auto& entry : fs::directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cpp") continue;
      ++n_files;
      std::ifstream in(entry.path());
      std::string line;
      int line_no = 0;
      while (std::getline(in, line)) {
        ++line_no;
        std::smatch m;
        if (!std::regex_search(line, m, include_re)) continue;
        ++n_includes;
        const std::string target = m[1];
        EXPECT_TRUE(kAllowed.count(target)) << entry.path() << ":" << line_no << " includes unknown folder '"
                                            << target << "'";
        EXPECT_TRUE(ok.count(target)) << entry.path() << ":" << line_no << ": " << folder << " may not include "
                                      << target << " (" << line << ")";
      }
    }
  }
  EXPECT_GT(n_files, 100);  // the scan found the sources
  EXPECT_GT(n_includes, 300);
}

// Every library folder is listed here, and nothing is left in the old catch-all core/.
TEST(Architecture, EveryLibraryFolderIsLayered) {
  const fs::path root = SPECLAB_SOURCE_DIR;
  EXPECT_FALSE(fs::exists(root / "core"));
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    bool has_sources = false;
    for (const auto& f : fs::directory_iterator(entry.path())) {
      has_sources |= f.path().extension() == ".cpp" || f.path().extension() == ".h";
    }
    // tests/, bench/ and fuzz/ sit above every library (they may include any of them).
    if (!has_sources || name == "tests" || name == "bench" || name == "fuzz" || name.rfind("build", 0) == 0) continue;
    EXPECT_TRUE(kAllowed.count(name)) << "folder " << name << " has sources but no place in the layering";
  }
}

}  // namespace
