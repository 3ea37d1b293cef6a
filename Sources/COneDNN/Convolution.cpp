// oneDNN convolutions behind Bulwark's C interface (see include/bulwark_onednn.h).
//
// oneDNN's fast AVX2/AVX-512 kernels want blocked layouts (nChw8c and friends), so each
// call reorders the plain arrays in and out of per-thread blocked buffers; the reorders move
// a few megabytes against tens of milliseconds of arithmetic.
#include "bulwark_onednn.h"

#if __has_include(<oneapi/dnnl/dnnl.hpp>)

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <vector>
#include <map>
#include <unordered_map>
#include <memory>

extern "C" void omp_set_num_threads(int);

namespace {

using dnnl::memory;
using tag = memory::format_tag;

using Key = std::array<long, 10>;

Key key_of(const bulwark_convolution &g, long kind) {
    return {g.batch, g.input_channels, g.height, g.width, g.output_channels,
            g.kernel_height, g.kernel_width, g.stride, g.padding, kind};
}

long output_extent(long size, long kernel, const bulwark_convolution &g) {
    return (size + 2 * g.padding - kernel) / g.stride + 1;
}

dnnl::engine &engine() {
    static dnnl::engine instance(dnnl::engine::kind::cpu, 0);
    return instance;
}

/// Plain descriptors and the forward primitive descriptor that backward ones take as a hint.
struct Descriptors {
    memory::desc plain_input, plain_weight, plain_output, bias, any_input, any_weight, any_output;
    memory::dims strides, padding;
    dnnl::convolution_forward::primitive_desc forward;

    explicit Descriptors(const bulwark_convolution &g) {
        memory::dims input{g.batch, g.input_channels, g.height, g.width};
        memory::dims weight{g.output_channels, g.input_channels, g.kernel_height, g.kernel_width};
        memory::dims output{g.batch, g.output_channels, output_extent(g.height, g.kernel_height, g),
                            output_extent(g.width, g.kernel_width, g)};
        auto f32 = memory::data_type::f32;
        plain_input = memory::desc(input, f32, tag::nchw);
        plain_weight = memory::desc(weight, f32, tag::oihw);
        plain_output = memory::desc(output, f32, tag::nchw);
        bias = memory::desc({g.output_channels}, f32, tag::a);
        any_input = memory::desc(input, f32, tag::any);
        any_weight = memory::desc(weight, f32, tag::any);
        any_output = memory::desc(output, f32, tag::any);
        strides = {g.stride, g.stride};
        padding = {g.padding, g.padding};
        forward = dnnl::convolution_forward::primitive_desc(
            dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                            any_input, any_weight, bias, any_output, strides, padding, padding),
            engine());
    }
};

/// A user array and, when the primitive wants another layout, a blocked buffer with the
/// reorders between them.
struct Operand {
    memory user, internal;
    dnnl::reorder to_internal, to_user;
    bool blocked = false;

    Operand(const memory::desc &plain, const memory::desc &wanted, bool input, bool output) {
        user = memory(plain, engine(), DNNL_MEMORY_NONE);
        blocked = plain != wanted;
        internal = blocked ? memory(wanted, engine()) : user;
        if (blocked && input) to_internal = dnnl::reorder(user, internal);
        if (blocked && output) to_user = dnnl::reorder(internal, user);
    }

    void bring_in(dnnl::stream &stream, const float *data) {
        user.set_data_handle(const_cast<float *>(data));
        if (blocked) to_internal.execute(stream, user, internal);
    }

    void attach(float *data) { user.set_data_handle(data); }

    void send_out(dnnl::stream &stream) {
        if (blocked) to_user.execute(stream, internal, user);
    }
};

struct Plan {
    virtual ~Plan() = default;
};

struct ForwardPlan : Plan {
    Operand input, weight, output;
    memory bias;
    dnnl::convolution_forward primitive;

    ForwardPlan(const Descriptors &d)
        : input(d.plain_input, d.forward.src_desc(), true, false),
          weight(d.plain_weight, d.forward.weights_desc(), true, false),
          output(d.plain_output, d.forward.dst_desc(), false, true),
          bias(d.bias, engine(), DNNL_MEMORY_NONE),
          primitive(d.forward) {}
};

struct BackwardDataPlan : Plan {
    Operand output_gradient, weight, input_gradient;
    dnnl::convolution_backward_data primitive;

    BackwardDataPlan(const Descriptors &d, const dnnl::convolution_backward_data::primitive_desc &pd)
        : output_gradient(d.plain_output, pd.diff_dst_desc(), true, false),
          weight(d.plain_weight, pd.weights_desc(), true, false),
          input_gradient(d.plain_input, pd.diff_src_desc(), false, true),
          primitive(pd) {}
};

struct BackwardWeightsPlan : Plan {
    Operand input, output_gradient, weight_gradient;
    memory bias_gradient;
    dnnl::convolution_backward_weights primitive;

    BackwardWeightsPlan(const Descriptors &d, const dnnl::convolution_backward_weights::primitive_desc &pd)
        : input(d.plain_input, pd.src_desc(), true, false),
          output_gradient(d.plain_output, pd.diff_dst_desc(), true, false),
          weight_gradient(d.plain_weight, pd.diff_weights_desc(), false, true),
          bias_gradient(d.bias, engine(), DNNL_MEMORY_NONE),
          primitive(pd) {}
};

/// This thread's stream and plans. Plans for a geometry are built on first use.
struct ThreadState {
    dnnl::stream stream;
    std::map<Key, std::unique_ptr<Plan>> plans;

    ThreadState() {
        // One thread per call: the engine owns the cores.
        omp_set_num_threads(1);
        stream = dnnl::stream(engine());
    }
};

ThreadState &thread_state() {
    thread_local ThreadState state;
    return state;
}

template <class P, class Make>
P &plan(ThreadState &state, const Key &key, Make make) {
    auto found = state.plans.find(key);
    if (found == state.plans.end()) {
        // Bound the cache: a long run with many batch sizes must not grow without limit.
        if (state.plans.size() > 64) state.plans.clear();
        found = state.plans.emplace(key, make()).first;
    }
    return static_cast<P &>(*found->second);
}

// Runs `pass` with this thread's state on one OpenMP thread (the engine's workers own the
// cores); 0 when it ran, 1 when oneDNN threw.
template <class Pass>
int run_pass(Pass pass) {
    try {
        auto &state = thread_state();
        omp_set_num_threads(1);
        pass(state);
        return 0;
    } catch (...) {
        return 1;
    }
}

} // namespace

extern "C" int bulwark_convolution_forward(const bulwark_convolution *g, const float *input, const float *weight,
                                           const float *bias, float *output) {
    return run_pass([&](ThreadState &state) {
        auto &p = plan<ForwardPlan>(state, key_of(*g, 0), [&] {
            Descriptors d(*g);
            return std::make_unique<ForwardPlan>(d);
        });
        std::vector<float> zeros;
        if (bias == nullptr) {
            zeros.assign(static_cast<size_t>(g->output_channels), 0.0f);
            bias = zeros.data();
        }
        p.input.bring_in(state.stream, input);
        p.weight.bring_in(state.stream, weight);
        p.bias.set_data_handle(const_cast<float *>(bias));
        p.output.attach(output);
        p.primitive.execute(state.stream, {{DNNL_ARG_SRC, p.input.internal},
                                           {DNNL_ARG_WEIGHTS, p.weight.internal},
                                           {DNNL_ARG_BIAS, p.bias},
                                           {DNNL_ARG_DST, p.output.internal}});
        p.output.send_out(state.stream);
        state.stream.wait();
    });
}

extern "C" int bulwark_convolution_backward_data(const bulwark_convolution *g, const float *output_gradient,
                                                 const float *weight, float *input_gradient) {
    return run_pass([&](ThreadState &state) {
        auto &p = plan<BackwardDataPlan>(state, key_of(*g, 1), [&] {
            Descriptors d(*g);
            dnnl::convolution_backward_data::primitive_desc pd(
                dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, d.any_input, d.any_weight,
                                                      d.any_output, d.strides, d.padding, d.padding),
                engine(), d.forward);
            return std::make_unique<BackwardDataPlan>(d, pd);
        });
        p.output_gradient.bring_in(state.stream, output_gradient);
        p.weight.bring_in(state.stream, weight);
        p.input_gradient.attach(input_gradient);
        p.primitive.execute(state.stream, {{DNNL_ARG_DIFF_DST, p.output_gradient.internal},
                                           {DNNL_ARG_WEIGHTS, p.weight.internal},
                                           {DNNL_ARG_DIFF_SRC, p.input_gradient.internal}});
        p.input_gradient.send_out(state.stream);
        state.stream.wait();
    });
}

extern "C" int bulwark_convolution_backward_weights(const bulwark_convolution *g, const float *input,
                                                    const float *output_gradient, float *weight_gradient,
                                                    float *bias_gradient) {
    return run_pass([&](ThreadState &state) {
        bool with_bias = bias_gradient != nullptr;
        auto &p = plan<BackwardWeightsPlan>(state, key_of(*g, with_bias ? 3 : 2), [&] {
            Descriptors d(*g);
            auto desc = with_bias
                ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, d.any_input,
                                                           d.any_weight, d.bias, d.any_output, d.strides,
                                                           d.padding, d.padding)
                : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, d.any_input,
                                                           d.any_weight, d.any_output, d.strides, d.padding,
                                                           d.padding);
            dnnl::convolution_backward_weights::primitive_desc pd(desc, engine(), d.forward);
            return std::make_unique<BackwardWeightsPlan>(d, pd);
        });
        p.input.bring_in(state.stream, input);
        p.output_gradient.bring_in(state.stream, output_gradient);
        p.weight_gradient.attach(weight_gradient);
        std::unordered_map<int, memory> arguments{{DNNL_ARG_SRC, p.input.internal},
                                                  {DNNL_ARG_DIFF_DST, p.output_gradient.internal},
                                                  {DNNL_ARG_DIFF_WEIGHTS, p.weight_gradient.internal}};
        if (with_bias) {
            p.bias_gradient.set_data_handle(bias_gradient);
            arguments.emplace(DNNL_ARG_DIFF_BIAS, p.bias_gradient);
        }
        p.primitive.execute(state.stream, arguments);
        p.weight_gradient.send_out(state.stream);
        state.stream.wait();
    });
}

extern "C" int bulwark_onednn_version(int *major, int *minor, int *patch) {
    const dnnl_version_t *version = dnnl_version();
    if (version == nullptr) return 1;
    *major = version->major;
    *minor = version->minor;
    *patch = version->patch;
    return 0;
}

#endif
