// The leaky time loops of models/bptt.py with a linear drive, in C++ (models/native.py
// builds and loads this file): per step one batched product and one fused pass over the
// elements, instead of a Python call per op. The same equations as bptt.py; the sums
// are the same but the elementwise ops are fused (and may be contracted to FMAs), so the
// results agree with the Python loop to float rounding, not bit for bit.
//
//   leaky:    d_t = code + f_{t-1} W,  h_t = lerp(h_{t-1}, d_t, a)   (no a: h_t = d_t)
//   velocity: d_t = code + f_{t-1} W,  v_t = lerp(v_{t-1}, d_t - h_{t-1}, a),  h_t = h_{t-1} + v_t
//   f_t = tanh(h_t); a is (K, 1, 1) or per unit (K, 1, H).
#include <torch/extension.h>
#include <ATen/cpu/vec/vec.h>

#include <vector>

using at::Tensor;
using Vec = at::vec::Vectorized<float>;

namespace {

// The rate of replica k at unit h (a: (K, 1, A) with A = 1 or H); no tensor: a = 1.
struct Rate {
  const float* p = nullptr;
  int64_t stride = 0, width = 1;
  explicit Rate(const c10::optional<Tensor>& a) {
    if (a.has_value()) {
      p = a->data_ptr<float>();
      stride = a->stride(0);
      width = a->size(2);
    }
  }
  const float* of(int64_t k) const { return p == nullptr ? nullptr : p + k * stride; }
};

// Apply op(vector a, offset) over P rows of H contiguous floats, vectorised along H.
template <typename Op, typename Tail>
inline void rows(int64_t P, int64_t H, const float* ak, int64_t width, Op op, Tail tail) {
  for (int64_t p = 0; p < P; ++p) {
    const int64_t o = p * H;
    int64_t h = 0;
    for (; h + Vec::size() <= H; h += Vec::size()) {
      Vec a = ak == nullptr ? Vec(1.0f) : (width == 1 ? Vec(ak[0]) : Vec::loadu(ak + h));
      op(a, o + h);
    }
    for (; h < H; ++h) tail(ak == nullptr ? 1.0f : (width == 1 ? ak[0] : ak[h]), o + h);
  }
}

}  // namespace

// F = tanh(h_0..h_T), (K, T+1, P, H).
Tensor leaky_forward(const Tensor& h0, const c10::optional<Tensor>& a, int64_t steps,
                     bool velocity, const Tensor& W, const Tensor& code) {
  const int64_t K = h0.size(0), P = h0.size(1), H = h0.size(2), blk = P * H;
  Tensor F = at::empty({K, steps + 1, P, H}, h0.options());
  Tensor f0 = F.select(1, 0);
  at::tanh_out(f0, h0);
  Tensor state = h0.contiguous().clone();
  Tensor vel = velocity ? at::zeros_like(state) : Tensor();
  Tensor d = at::empty({K, P, H}, h0.options());
  const Rate rate(a);
  const bool none = !a.has_value();
  float* S = state.data_ptr<float>();
  float* V = velocity ? vel.data_ptr<float>() : nullptr;
  const float* D = d.data_ptr<float>();
  float* Fp = F.data_ptr<float>();
  for (int64_t t = 0; t < steps; ++t) {
    at::baddbmm_out(d, code, F.select(1, t), W);
    for (int64_t k = 0; k < K; ++k) {
      float* s = S + k * blk;
      const float* dk = D + k * blk;
      float* f = Fp + (k * (steps + 1) + t + 1) * blk;
      if (velocity) {
        float* v = V + k * blk;
        rows(P, H, rate.of(k), rate.width,
             [&](Vec av, int64_t i) {
               Vec h = Vec::loadu(s + i), vv = Vec::loadu(v + i);
               vv = vv + av * ((Vec::loadu(dk + i) - h) - vv);
               h = h + vv;
               vv.store(v + i);
               h.store(s + i);
               h.tanh().store(f + i);
             },
             [&](float av, int64_t i) {
               v[i] = v[i] + av * ((dk[i] - s[i]) - v[i]);
               s[i] = s[i] + v[i];
               f[i] = std::tanh(s[i]);
             });
      } else {
        rows(P, H, rate.of(k), rate.width,
             [&](Vec av, int64_t i) {
               Vec h = Vec::loadu(dk + i);
               if (!none) {
                 Vec old = Vec::loadu(s + i);
                 h = old + av * (h - old);
               }
               h.store(s + i);
               h.tanh().store(f + i);
             },
             [&](float av, int64_t i) {
               s[i] = none ? dk[i] : s[i] + av * (dk[i] - s[i]);
               f[i] = std::tanh(s[i]);
             });
      }
    }
  }
  return F;
}

// (G, dL/dh_0) from F and gF = dL/df_1..f_T (K, T, P, H): G = dL/dd_1..d_T, as
// bptt._leaky_backward and bptt._velocity_backward with a linear drive.
std::vector<Tensor> leaky_backward(const Tensor& F, const Tensor& gF_in,
                                   const c10::optional<Tensor>& a, const Tensor& W,
                                   bool velocity) {
  const Tensor gF = gF_in.contiguous();
  const int64_t K = gF.size(0), T = gF.size(1), P = gF.size(2), H = gF.size(3), blk = P * H;
  Tensor G = at::empty({K, T, P, H}, gF.options());
  const Tensor Wt = W.transpose(-2, -1);
  Tensor x = at::empty({K, P, H}, gF.options());
  const Rate rate(a);
  const bool none = !a.has_value();
  const float* Fp = F.data_ptr<float>();
  const float* gFp = gF.data_ptr<float>();
  float* Gp = G.data_ptr<float>();
  const float* X = x.data_ptr<float>();
  auto f_at = [&](int64_t k, int64_t t) { return Fp + (k * (T + 1) + t) * blk; };
  auto gf_at = [&](int64_t k, int64_t t) { return gFp + (k * T + t) * blk; };
  auto g_at = [&](int64_t k, int64_t t) { return Gp + (k * T + t) * blk; };
  const Vec one(1.0f);
  if (!velocity) {
    // g_T = a tanh'(h_T) dL/df_T; then g_{t-1} = lerp(g_t, tanh'(h_{t-1}) x, a) with
    // x = dL/df_{t-1} + g_t W^T.
    for (int64_t k = 0; k < K; ++k) {
      const float *gf = gf_at(k, T - 1), *f = f_at(k, T);
      float* g = g_at(k, T - 1);
      rows(P, H, rate.of(k), rate.width,
           [&](Vec av, int64_t i) {
             Vec ff = Vec::loadu(f + i);
             (av * (Vec::loadu(gf + i) * (one - ff * ff))).store(g + i);
           },
           [&](float av, int64_t i) { g[i] = av * (gf[i] * (1.0f - f[i] * f[i])); });
    }
    for (int64_t t = T - 1; t >= 1; --t) {
      at::baddbmm_out(x, gF.select(1, t - 1), G.select(1, t), Wt);
      for (int64_t k = 0; k < K; ++k) {
        const float *g = g_at(k, t), *xk = X + k * blk, *f = f_at(k, t);
        float* out = g_at(k, t - 1);
        rows(P, H, rate.of(k), rate.width,
             [&](Vec av, int64_t i) {
               Vec ff = Vec::loadu(f + i);
               Vec y = Vec::loadu(xk + i) * (one - ff * ff);
               if (!none) {
                 Vec gg = Vec::loadu(g + i);
                 y = gg + av * (y - gg);
               }
               y.store(out + i);
             },
             [&](float av, int64_t i) {
               float y = xk[i] * (1.0f - f[i] * f[i]);
               out[i] = none ? y : g[i] + av * (y - g[i]);
             });
      }
    }
    const Tensor g1 = G.select(1, 0);
    Tensor gh0 = at::tanh_backward(at::bmm(g1, Wt), F.select(1, 0));
    if (!none) gh0 = at::addcmul(gh0, g1, (1 - *a) / *a);
    return {G, gh0};
  }
  // Velocity: with H_t = dL/dh_t and gv = dL/dv_t, g_t = a gv_t;
  // H_{t-1} = H_t - g_t + tanh'(h_{t-1}) (dL/df_{t-1} + g_t W^T), gv_{t-1} = H_{t-1} + (1 - a) gv_t.
  Tensor Hs = at::empty({K, P, H}, gF.options());
  Tensor gvs = at::empty({K, P, H}, gF.options());
  float* Hp = Hs.data_ptr<float>();
  float* gvp = gvs.data_ptr<float>();
  for (int64_t k = 0; k < K; ++k) {
    const float *gf = gf_at(k, T - 1), *f = f_at(k, T);
    float *h = Hp + k * blk, *gv = gvp + k * blk, *g = g_at(k, T - 1);
    rows(P, H, rate.of(k), rate.width,
         [&](Vec av, int64_t i) {
           Vec ff = Vec::loadu(f + i);
           Vec y = Vec::loadu(gf + i) * (one - ff * ff);
           y.store(h + i);
           y.store(gv + i);
           (y * av).store(g + i);
         },
         [&](float av, int64_t i) {
           h[i] = gv[i] = gf[i] * (1.0f - f[i] * f[i]);
           g[i] = gv[i] * av;
         });
  }
  for (int64_t t = T; t >= 1; --t) {
    if (t >= 2) {
      at::baddbmm_out(x, gF.select(1, t - 2), G.select(1, t - 1), Wt);
    } else {
      at::bmm_out(x, G.select(1, t - 1), Wt);
    }
    for (int64_t k = 0; k < K; ++k) {
      const float *g = g_at(k, t - 1), *xk = X + k * blk, *f = f_at(k, t - 1);
      float *h = Hp + k * blk, *gv = gvp + k * blk;
      float* next = t >= 2 ? g_at(k, t - 2) : nullptr;
      rows(P, H, rate.of(k), rate.width,
           [&](Vec av, int64_t i) {
             Vec ff = Vec::loadu(f + i);
             Vec hh = (Vec::loadu(h + i) - Vec::loadu(g + i)) + Vec::loadu(xk + i) * (one - ff * ff);
             Vec v = hh + Vec::loadu(gv + i) * (one - av);
             hh.store(h + i);
             v.store(gv + i);
             if (next != nullptr) (v * av).store(next + i);
           },
           [&](float av, int64_t i) {
             h[i] = (h[i] - g[i]) + xk[i] * (1.0f - f[i] * f[i]);
             gv[i] = h[i] + gv[i] * (1.0f - av);
             if (next != nullptr) next[i] = gv[i] * av;
           });
    }
  }
  return {G, Hs};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("leaky_forward", &leaky_forward, "the leaky loop's features F (K, T+1, P, H)");
  m.def("leaky_backward", &leaky_backward, "(G, dL/dh_0) of the leaky loop");
}
