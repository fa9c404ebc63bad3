// The optimizer kernels a training program calls, each over one flattened parameter: Adam (or AdamW), SGD
// with momentum, the sum of squares of a gradient (for global-norm clipping), and the exponential moving
// average of a parameter (`ema` in `train { }`). They are fixed pipelines, not lowered from attn ops, so
// each comes with its schedule; the driver (AttnToHalide.cpp) compiles them.
#include "Lowering.h"

using namespace mlir::attn::halide;

namespace {

/// An elementwise output over a flat parameter: chunks of vectors across threads, or on a GPU a thread
/// per element in blocks of 256.
void scheduleFlatUpdate(Halide::Func f, const Halide::Target &target) {
  Halide::Var i = f.args()[0], outer("outer"), inner("inner");
  if (target.has_gpu_feature()) {
    f.gpu_tile(i, outer, inner, 256, Halide::TailStrategy::GuardWithIf);
    return;
  }
  int vw = target.natural_vector_size<float>();
  f.split(i, outer, inner, vw * 256, Halide::TailStrategy::GuardWithIf)
      .parallel(outer)
      .vectorize(inner, vw, Halide::TailStrategy::GuardWithIf);
}

} // namespace

std::vector<OptimizerKernel> mlir::attn::halide::buildOptimizerKernels(const Halide::Target &target) {
  std::vector<OptimizerKernel> kernels;
  Halide::Var i("i");
  Halide::ImageParam p(Halide::Float(32), 1, "param"), g(Halide::Float(32), 1, "grad");
  Halide::ImageParam m(Halide::Float(32), 1, "m"), v(Halide::Float(32), 1, "v");
  Halide::Param<float> lr("lr"), beta1("beta1"), beta2("beta2"), eps("eps"), decay("weight_decay");
  Halide::Param<float> bias1("bias1"), bias2("bias2"), scale("scale"), momentum("momentum");
  Halide::Param<int> decoupled("decoupled");

  // Adam (Kingma & Ba) with bias correction; weight decay is L2 in the gradient, or decoupled (AdamW).
  Halide::Expr grad = g(i) * scale;
  grad = Halide::select(decoupled != 0, grad, grad + decay * p(i));
  // One loop writes the parameter, m and v (a Tuple: its outputs in that order).
  Halide::Expr mNew = beta1 * m(i) + (1.0f - beta1) * grad;
  Halide::Expr vNew = beta2 * v(i) + (1.0f - beta2) * grad * grad;
  Halide::Expr step = lr * (mNew / bias1) / (Halide::sqrt(vNew / bias2) + eps);
  Halide::Func adam("adam");
  adam(i) = {p(i) - step - Halide::select(decoupled != 0, lr * decay * p(i), 0.0f), mNew, vNew};
  scheduleFlatUpdate(adam, target);
  kernels.push_back({{adam},
                     {p, g, m, v, lr, beta1, beta2, eps, decay, bias1, bias2, scale, decoupled},
                     "attn_update_adam"});

  // SGD with momentum (PyTorch's form: buf = momentum·buf + g, p −= lr·buf) and L2 weight decay.
  Halide::Expr bufNew = momentum * m(i) + g(i) * scale + decay * p(i);
  Halide::Func sgd("sgd");
  sgd(i) = {p(i) - lr * bufNew, bufNew};
  scheduleFlatUpdate(sgd, target);
  kernels.push_back({{sgd}, {p, g, m, lr, momentum, decay, scale}, "attn_update_sgd"});

  // Σ g², for the global norm of all gradients: kSquareLanes partial sums (several vectors, so that the
  // additions do not wait on one another), then their sum.
  constexpr int kSquareLanes = 64;
  Halide::Expr n = g.dim(0).extent();
  Halide::RDom r(0, (n + kSquareLanes - 1) / kSquareLanes, "r"), lanes(0, kSquareLanes, "rl");
  Halide::Var l("l");
  Halide::Expr at = r * kSquareLanes + l;
  Halide::Expr x = Halide::select(at < n, g(Halide::min(at, n - 1)), 0.0f);
  Halide::Func partial("partial_squares"), squares("sum_squares");
  partial(l) = 0.0f;
  partial(l) += x * x;
  squares() = 0.0f;
  squares() += partial(lanes);
  if (target.has_gpu_feature()) { // a thread per partial sum, then one thread adds them up
    Halide::Var block("block"), thread("thread");
    partial.compute_root().gpu_tile(l, block, thread, kSquareLanes);
    partial.update().gpu_tile(l, block, thread, kSquareLanes);
    squares.gpu_single_thread();
    squares.update().gpu_single_thread();
  } else {
    int vw = target.natural_vector_size<float>();
    partial.compute_root().vectorize(l, vw);
    partial.update().vectorize(l, vw);
  }
  kernels.push_back({{squares}, {g}, "attn_sum_squares"});

  // The moving average of a parameter: average + (1 − decay)·(param − average).
  Halide::ImageParam average(Halide::Float(32), 1, "average");
  Halide::Param<float> averageDecay("decay");
  Halide::Func ema("ema");
  ema(i) = average(i) + (1.0f - averageDecay) * (p(i) - average(i));
  scheduleFlatUpdate(ema, target);
  kernels.push_back({{ema}, {p, average, averageDecay}, "attn_update_average"});
  return kernels;
}
