// NumPy .npy files: how tensors come into and go out of a compiled model. Reading accepts what NumPy writes
// by default (float64, int64, bool) and converts it to the model's f32 and i32, so `np.save` on an ordinary
// array just works; anything it cannot read exactly (Fortran order, big-endian, other dtypes, a truncated
// file) is an error that names the file and the problem.
#ifndef ATTN_RUNTIME_NPY_H
#define ATTN_RUNTIME_NPY_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/Tensor.h"

#include <string>

namespace attn::rt {

/// Reads a version 1.0 or 2.0 .npy file. '<f4' and '<i4' are read as they are; '<f8' becomes f32; '<i8'
/// (which must fit in int32), '|b1', '|u1' and '|i1' become i32.
Expected<Tensor> readNpy(const std::string &path);

/// Writes `tensor` as a version 1.0 .npy file ('<f4' or '<i4', C order), replacing `path` atomically.
Status writeNpy(const std::string &path, const Tensor &tensor);

} // namespace attn::rt

#endif // ATTN_RUNTIME_NPY_H
