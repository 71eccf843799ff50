// CUDA implementations of the torch.ops.dann schemas (declared in csrc/dann_ops.cpp).
//
// Each wrapper runs the same checks as the CPU kernels and the reference (csrc/checks.h), makes its
// inputs contiguous, allocates contiguous outputs of the input's dtype, picks the element type and
// launches the raw-pointer kernels of csrc/cuda/*.cu on the current stream of the tensor's device.
//
// Nothing here waits for the GPU, so every op can be captured in a CUDA graph (torch.cuda.graph,
// torch.compile(mode="reduce-overhead")) and replayed:
// - λ is read on the device (see lambda_arg), so a replay uses λ's value at the replay.
// - A bad label cannot be reported by the call that launched the kernel without a sync. The kernel
//   gives the bad rows NaN loss and gradient and sets a per-device flag in pinned host memory; the
//   next domain_bce / domain_ce call on that device (or dann_core._C.raise_pending_label_errors())
//   reads the flag, costing no sync, and raises the reference's ValueError.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>

#include "../checks.h"
#include "../variant.h"
#include "dann_cuda.cuh"

namespace dann {
namespace {

using cuda::LambdaArg;

template <typename T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) with the CUDA element type of a float dtype.
template <typename F>
void dispatch_float(at::ScalarType s, const char* name, F&& f) {
  switch (s) {
    case at::kFloat: return f(Tag<float>{});
    case at::kDouble: return f(Tag<double>{});
    case at::kHalf: return f(Tag<__half>{});
    case at::kBFloat16: return f(Tag<__nv_bfloat16>{});
    default: TORCH_CHECK_TYPE(false, name, " must be float32, float64, bfloat16 or float16, got ", s);
  }
}

// The kernels' dtype code for tensors they read through a void pointer; -1 when unsupported.
int32_t dtype_code(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return cuda::kF32;
    case at::kDouble: return cuda::kF64;
    case at::kHalf: return cuda::kF16;
    case at::kBFloat16: return cuda::kBF16;
    case at::kBool: return cuda::kBool;
    case at::kByte: return cuda::kU8;
    case at::kChar: return cuda::kI8;
    case at::kShort: return cuda::kI16;
    case at::kInt: return cuda::kI32;
    case at::kLong: return cuda::kI64;
    case at::kUInt16: return cuda::kU16;
    case at::kUInt32: return cuda::kU32;
    case at::kUInt64: return cuda::kU64;
    default: return -1;
  }
}

bool is_float_code(int32_t c) { return c == cuda::kF32 || c == cuda::kF64 || c == cuda::kF16 || c == cuda::kBF16; }

cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

bool is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

// Runs f() in relaxed capture mode: host-side CUDA calls that are not stream work (pointer queries,
// a pinned allocation) are then allowed while this or another thread captures a graph.
template <typename F>
cudaError_t relaxed_capture_mode(F&& f) {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  C10_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  const cudaError_t err = f();
  C10_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  return err;
}

// Page-locked host memory, which the GPU can read (memory from pin_memory(), cudaHostAlloc ...).
bool is_pinned(const at::Tensor& t) {
  cudaPointerAttributes attr{};
  const cudaError_t err = relaxed_capture_mode([&] { return cudaPointerGetAttributes(&attr, t.const_data_ptr()); });
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // not a CUDA pointer at all: clear the error, the memory is pageable
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

double pageable_lambda_value(const at::Tensor& lambd) {
  switch (lambd.scalar_type()) {
    case at::kFloat: return *lambd.const_data_ptr<float>();
    case at::kDouble: return *lambd.const_data_ptr<double>();
    case at::kHalf: return static_cast<float>(*lambd.const_data_ptr<at::Half>());
    case at::kBFloat16: return static_cast<float>(*lambd.const_data_ptr<at::BFloat16>());
    default: return *lambd.to(at::kDouble).const_data_ptr<double>();  // float8 ...: exact in double
  }
}

// λ for a kernel on `device`, read on the device whenever that is possible:
// - a λ on that GPU: the kernel reads it (a dtype it does not read, float8 ..., is converted there);
// - a pinned CPU λ: copied to the device on the stream, so a graph replays the copy and sees
//   lam.fill_() between replays (like any non_blocking copy it reads λ when the stream gets there);
// - a pageable CPU λ: the GPU cannot read it, so its value at the call becomes a kernel argument,
//   which a graph would freeze; under stream capture that is an error instead of a wrong gradient.
// `keep` holds any device copy until the launch is queued.
LambdaArg lambda_arg(const at::Tensor& lambd, const at::Device& device, at::Tensor& keep) {
  const cudaStream_t stream = current_stream();
  if (lambd.is_cpu()) {
    if (!is_pinned(lambd)) {
      TORCH_CHECK_VALUE(!is_capturing(stream),
                        "lambd is a CPU tensor in pageable memory, whose value a CUDA graph would freeze at capture; "
                        "pass it on the GPU (torch.tensor(0.5, device='cuda')) or pinned (.pin_memory())");
      return LambdaArg{nullptr, cuda::kF32, pageable_lambda_value(lambd)};
    }
    keep = at::empty({}, lambd.options().device(device).pinned_memory(false));
    C10_CUDA_CHECK(cudaMemcpyAsync(keep.mutable_data_ptr(), lambd.const_data_ptr(), lambd.element_size(),
                                   cudaMemcpyHostToDevice, stream));
  } else {
    keep = lambd;
  }
  int32_t code = dtype_code(keep.scalar_type());
  if (!is_float_code(code)) {
    keep = keep.to(at::kFloat);
    code = cuda::kF32;
  }
  return LambdaArg{keep.const_data_ptr(), code, 0.0};
}

// Bad-label flags, one per device and loss (0 domain_bce, 1 domain_ce): pinned host memory that the
// loss kernels write through its device address, so the host reads it without waiting for the GPU.
constexpr int kMaxDevices = 64;

int64_t* label_flags() {
  static int64_t* flags = [] {
    void* p = nullptr;
    C10_CUDA_CHECK(relaxed_capture_mode([&] {
      return cudaHostAlloc(&p, 2 * kMaxDevices * sizeof(int64_t), cudaHostAllocPortable | cudaHostAllocMapped);
    }));
    std::memset(p, 0, 2 * kMaxDevices * sizeof(int64_t));
    return static_cast<int64_t*>(p);
  }();
  return flags;
}

// The flag a loss kernel on `device` sets, as a device address (the same as the host's under the
// unified addressing of every 64-bit CUDA platform).
int64_t* label_flag_arg(int device, int loss) {
  TORCH_CHECK(device >= 0 && device < kMaxDevices, "dann supports CUDA devices 0 to ", kMaxDevices - 1,
              ", got cuda:", device);
  int64_t* host = label_flags() + 2 * device + loss;
  void* dev = nullptr;
  C10_CUDA_CHECK(cudaHostGetDevicePointer(&dev, host, 0));
  return static_cast<int64_t*>(dev);
}

// Raises the ValueError of a bad label that an earlier loss kernel on `device` found (once).
void raise_pending_label_error(int device) {
  int64_t* f = label_flags() + 2 * device;
  std::atomic_ref<int64_t> bce_flag(f[0]), ce_flag(f[1]);
  if (bce_flag.load(std::memory_order_relaxed) == 0 && ce_flag.load(std::memory_order_relaxed) == 0) return;
  const int64_t bce = bce_flag.exchange(0);
  const int64_t ce_k = ce_flag.exchange(0);
  const std::string where = " (found on cuda:" + std::to_string(device) +
                            " by an earlier call's kernel, which gave those rows NaN loss and gradient)";
  TORCH_CHECK_VALUE(bce == 0, kBinaryLabelsMsg, where);
  TORCH_CHECK_VALUE(ce_k == 0, class_labels_msg(ce_k), where);
}

void check_cuda(const char* name, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.is_cuda(), name, " is on ", t.device(), "; this kernel needs a CUDA tensor");
}

at::Tensor grl_backward_cuda(const at::Tensor& grad, const at::Tensor& lambd) {
  check_grl_backward(grad, lambd);
  check_float("grad", grad);
  check_cuda("grad", grad);
  const c10::cuda::CUDAGuard guard(grad.device());
  const at::Tensor g = grad.contiguous();
  at::Tensor out = at::empty(g.sizes(), g.options());
  if (g.numel() == 0) return out;
  at::Tensor keep;
  const LambdaArg lam = lambda_arg(lambd, g.device(), keep);
  dispatch_float(g.scalar_type(), "grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_grl_backward<T>(static_cast<const T*>(g.const_data_ptr()),
                                                static_cast<T*>(out.mutable_data_ptr()), g.numel(), lam,
                                                current_stream()));
  });
  return out;
}

at::Tensor split_reverse_backward_cuda(const std::optional<at::Tensor>& grad_label, const at::Tensor& grad_domain,
                                       int64_t n_label_rows, const at::Tensor& lambd) {
  check_split_reverse_backward(grad_label, grad_domain, n_label_rows, lambd);
  check_float("grad_domain", grad_domain);
  check_cuda("grad_domain", grad_domain);
  const c10::cuda::CUDAGuard guard(grad_domain.device());
  const bool has_label = grad_label.has_value() && grad_label->numel() > 0;
  if (has_label && grad_label->scalar_type() != grad_domain.scalar_type()) {
    // Rare (autograd gives both gradients the features' dtype): in the compute dtype, as the reference.
    const auto ct = grad_domain.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    return split_reverse_backward_cuda(grad_label->to(ct), grad_domain.to(ct), n_label_rows, lambd)
        .to(grad_domain.scalar_type());
  }
  const at::Tensor gd = grad_domain.contiguous();
  const at::Tensor gl = has_label ? grad_label->contiguous() : at::Tensor();
  at::Tensor out = at::empty(gd.sizes(), gd.options());
  const int64_t n = gd.numel();
  if (n == 0) return out;
  const int64_t n_label = has_label ? gl.numel() : 0;  // = n_label_rows · row size (shape checked)
  at::Tensor keep;
  const LambdaArg lam = lambda_arg(lambd, gd.device(), keep);
  dispatch_float(gd.scalar_type(), "grad_domain", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_split_reverse_backward<T>(
        has_label ? static_cast<const T*>(gl.const_data_ptr()) : nullptr, static_cast<const T*>(gd.const_data_ptr()),
        static_cast<T*>(out.mutable_data_ptr()), n, n_label, lam, current_stream()));
  });
  return out;
}

// Optional per-sample weights as the kernels read them: a contiguous tensor (undefined if none) and its dtype code.
at::Tensor weight_arg(const std::optional<at::Tensor>& weight, int32_t* code) {
  if (!weight.has_value()) {
    *code = -1;
    return at::Tensor();
  }
  at::Tensor w = weight->contiguous();
  *code = dtype_code(w.scalar_type());
  return w;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_bce_cuda(const at::Tensor& logits,
                                                               const std::optional<at::Tensor>& labels,
                                                               int64_t n_source,
                                                               const std::optional<at::Tensor>& weight,
                                                               c10::string_view reduction) {
  check_domain_bce(logits, labels, n_source, weight, reduction);
  check_cuda("logits", logits);
  const int32_t red = reduction_code(reduction);
  const c10::cuda::CUDAGuard guard(logits.device());
  raise_pending_label_error(logits.get_device());
  const int64_t n = logits.size(0);
  const at::Tensor z = logits.contiguous();
  at::Tensor lab;
  int32_t label_code = -1;
  if (labels.has_value()) {
    lab = labels->reshape({n}).contiguous();
    label_code = dtype_code(lab.scalar_type());
    TORCH_CHECK_TYPE(label_code >= 0, "labels must be a bool, integer or float tensor of 0/1, got ",
                     lab.scalar_type());
  }
  int32_t weight_code = -1;
  const at::Tensor w = weight_arg(weight, &weight_code);
  const auto opts = z.options();
  at::Tensor loss = red == 0 ? at::empty({n}, opts) : at::empty({}, opts);
  at::Tensor grad = at::empty(logits.sizes(), opts);
  at::Tensor correct = at::empty({}, opts.dtype(at::kLong));
  int64_t* bad = labels.has_value() ? label_flag_arg(logits.get_device(), 0) : nullptr;
  at::Tensor workspace = at::empty({cuda::loss_workspace_bytes(n)}, opts.dtype(at::kByte));
  dispatch_float(z.scalar_type(), "logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_domain_bce<T>(
        static_cast<const T*>(z.const_data_ptr()), n, lab.defined() ? lab.const_data_ptr() : nullptr, label_code,
        n_source, w.defined() ? w.const_data_ptr() : nullptr, weight_code, red, static_cast<T*>(loss.mutable_data_ptr()),
        static_cast<T*>(grad.mutable_data_ptr()), correct.mutable_data_ptr<int64_t>(),
        bad, workspace.mutable_data_ptr(), current_stream()));
  });
  return {loss, grad, correct};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_ce_cuda(const at::Tensor& logits, const at::Tensor& labels,
                                                              const std::optional<at::Tensor>& weight,
                                                              c10::string_view reduction) {
  check_domain_ce(logits, labels, weight, reduction);
  check_cuda("logits", logits);
  const int32_t red = reduction_code(reduction);
  const c10::cuda::CUDAGuard guard(logits.device());
  raise_pending_label_error(logits.get_device());
  const int64_t n = logits.size(0), k = logits.size(1);
  const at::Tensor z = logits.contiguous();
  const at::Tensor lab = labels.contiguous();
  const int32_t label_code = dtype_code(lab.scalar_type());
  TORCH_CHECK_TYPE(label_code >= 0 && !is_float_code(label_code) && label_code != cuda::kBool,
                   "labels must be an integer tensor of domain indices, got ", lab.scalar_type());
  int32_t weight_code = -1;
  const at::Tensor w = weight_arg(weight, &weight_code);
  const auto opts = z.options();
  at::Tensor loss = red == 0 ? at::empty({n}, opts) : at::empty({}, opts);
  at::Tensor grad = at::empty({n, k}, opts);
  at::Tensor correct = at::empty({}, opts.dtype(at::kLong));
  at::Tensor workspace = at::empty({cuda::loss_workspace_bytes(n)}, opts.dtype(at::kByte));
  dispatch_float(z.scalar_type(), "logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_domain_ce<T>(
        static_cast<const T*>(z.const_data_ptr()), n, k, lab.const_data_ptr(), label_code,
        w.defined() ? w.const_data_ptr() : nullptr, weight_code, red, static_cast<T*>(loss.mutable_data_ptr()),
        static_cast<T*>(grad.mutable_data_ptr()), correct.mutable_data_ptr<int64_t>(),
        label_flag_arg(logits.get_device(), 1), workspace.mutable_data_ptr(), current_stream()));
  });
  return {loss, grad, correct};
}

// grad_x = -λ·(g @ W), grad_W = gᵀ·x, grad_b = Σ_rows g, with ATen's GEMMs. The reversal is one
// grl_backward pass over g @ W, as the reference rounds it, whatever the device of λ: a GEMM alpha
// would read λ on the host, and scaling g or W first would round -λ·g to a 16-bit dtype.
std::tuple<at::Tensor, at::Tensor, at::Tensor> grl_linear_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                        const at::Tensor& weight,
                                                                        const at::Tensor& lambd) {
  check_grl_linear_backward(grad, x, weight, lambd);
  check_cuda("x", x);
  TORCH_CHECK_VALUE(grad.device() == x.device() && weight.device() == x.device(), "grad is on ", grad.device(),
                    ", x on ", x.device(), " and weight on ", weight.device(), "; they must share one device");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor g2 = grad.reshape({-1, grad.size(-1)});
  const at::Tensor x2 = x.reshape({-1, x.size(-1)});
  const at::Tensor grad_x = grl_backward_cuda(at::mm(g2, weight), lambd);
  return {grad_x.reshape(x.sizes()), at::mm(g2.t(), x2), g2.sum(0)};
}

}  // namespace

void raise_pending_label_errors() {
  int count = 0;
  C10_CUDA_CHECK(cudaGetDeviceCount(&count));
  for (int d = 0; d < count && d < kMaxDevices; ++d) raise_pending_label_error(d);
}

TORCH_LIBRARY_IMPL(dann, CUDA, m) {
  m.impl("grl_backward", TORCH_FN(grl_backward_cuda));
  m.impl("split_reverse_backward", TORCH_FN(split_reverse_backward_cuda));
  m.impl("domain_bce", TORCH_FN(domain_bce_cuda));
  m.impl("domain_ce", TORCH_FN(domain_ce_cuda));
  m.impl("grl_linear_backward", TORCH_FN(grl_linear_backward_cuda));
}

}  // namespace dann
