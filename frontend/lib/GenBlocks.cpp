// Blocks: a `block` declared in the model is expanded at every call, in a scope of its own, so each call
// builds its own layers with its own parameters.
#include "MLIRGenImpl.h"

namespace attn::gen {

/// Expands a block at a call: its parameters are bound to the arguments, its statements generated in a
/// scope of their own (dims, constants and blocks stay visible), and every layer in it names its
/// parameters `<call prefix>.<inner binding>...`, so each call has its own weights.
std::optional<Tensor> MLIRGenImpl::genBlockCall(const CallExpr &call, const BlockStmt &block,
                                                const std::string &prefix) {
  StringRef name = block.getName().name;
  const std::vector<Name> &params = block.getParams();
  std::vector<Tensor> args;
  bool ok = true;
  for (const Argument &arg : call.getArgs()) {
    if (!arg.name.empty()) {
      error(arg.loc) << "block '" << name << "' takes positional arguments only, found '" << arg.name
                     << " ='";
      ok = false;
      continue;
    }
    std::optional<Tensor> t = genTensor(*arg.value, false, "an argument of block '" + name.str() + "'");
    ok &= t.has_value();
    if (t)
      args.push_back(*t);
  }
  if (!ok)
    return std::nullopt;
  if (args.size() != params.size()) {
    std::string names;
    for (const Name &p : params)
      names += (names.empty() ? "" : ", ") + p.name;
    error(call.getLoc()) << "block '" << name << "' takes " << params.size() << " argument"
                         << (params.size() == 1 ? "" : "s") << " (" << names << "), found " << args.size();
    return std::nullopt;
  }
  if (activeBlocks.count(name)) {
    error(call.getLoc()) << "block '" << name << "' calls itself; blocks cannot be recursive";
    return std::nullopt;
  }

  // The block's scope: outer dims, constants and blocks, then the parameters.
  NestedScope scope(*this, [](StringRef, StringRef kind) {
    return kind == "a dimension" || kind == "a constant" || kind == "a block";
  }, prefix + ".");
  poisoned.clear();
  activeBlocks.insert(name);
  for (auto [param, arg] : llvm::zip(params, args))
    if (declare(param, "a block parameter"))
      tensors[param.name] = Tensor{arg.value, arg.shape, arg.isI32, false, param.name};
  for (const StmtPtr &stmt : block.getBody()) {
    if (auto *assign = llvm::dyn_cast<AssignStmt>(stmt.get()))
      genAssign(*assign);
    else
      error(stmt->getLoc())
          << "a block holds only assignments 'NAME = expression' and ends with 'return NAME'";
  }
  std::optional<Tensor> result;
  const Name &ret = block.getResult();
  if (auto it = tensors.find(ret.name); it != tensors.end())
    result = it->second;
  else if (!poisoned.count(ret.name))
    error(ret.loc) << "block '" << name << "' returns '" << ret.name
                   << "', which is not a tensor defined in it";

  activeBlocks.erase(name);
  if (result)
    result->isInput = false;
  return result;
}

} // namespace attn::gen
