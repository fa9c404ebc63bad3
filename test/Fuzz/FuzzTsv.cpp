// Fuzz target: a TSV data file (`train --tsv`) with two token columns, characters in and words out, as the
// G2P example reads it, then batches of it as the trainer takes them.
#include "FuzzInput.h"

#include "attn/Runtime/Dataset.h"
#include "attn/Runtime/Trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace attn::rt;
  static const Vocabulary letters({"<pad>", "<s>", "</s>", "<unk>", "a", "b", "c", "d", "e", "'"}, "letters");
  static const Vocabulary phonemes({"<pad>", "<s>", "</s>", "AH", "B", "K", "D", "EH"}, "phonemes");
  std::vector<TokenColumn> columns(2);
  columns[0] = {"src", letters, -1, 0, "src_len", ""};
  columns[1] = {"tgt", phonemes, 2, 0, "", "tgt_mask"};
  std::string path = attn::fuzz::scratchFile(data, size, "tsv");
  Expected<Dataset> dataset = Dataset::fromTsv(path, columns);
  if (!dataset)
    return 0;
  for (const std::vector<int64_t> &batch : epochBatches(*dataset, 3, 7, 0)) {
    Expected<TensorMap> tensors = dataset->batch(batch);
    if (!tensors)
      std::abort();
  }
  return 0;
}
