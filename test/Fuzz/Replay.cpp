// The main of the fuzz targets in an ordinary build (without libFuzzer): runs LLVMFuzzerTestOneInput once
// on every file named, and on every file of every folder named, so that `make check` replays the seed
// corpora and the saved crashers as regression tests. Options (arguments starting with '-', as libFuzzer
// takes) are ignored, so the same command line works for either build.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path arg = argv[i];
    if (argv[i][0] == '-')
      continue;
    if (fs::is_directory(arg)) {
      for (const fs::directory_entry &entry : fs::directory_iterator(arg))
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.')
          files.push_back(entry.path());
    } else if (fs::exists(arg)) {
      files.push_back(arg);
    }
  }
  for (const fs::path &file : files) {
    std::ifstream in(file, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
