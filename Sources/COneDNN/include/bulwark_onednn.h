// Bulwark's narrow C interface to oneDNN's convolutions (Debian's libdnnl-dev).
//
// Every call runs single-threaded on the calling thread, on plain NCHW / OIHW arrays; the
// engine splits batches across its own workers. Each thread keeps its primitives and blocked
// scratch buffers between calls, keyed by geometry, so a training loop creates them once.
#ifndef BULWARK_ONEDNN_H
#define BULWARK_ONEDNN_H

#ifdef __cplusplus
extern "C" {
#endif

/// One 2-D convolution: input [batch, input_channels, height, width], weight
/// [output_channels, input_channels, kernel_height, kernel_width], symmetric zero padding.
typedef struct {
    long batch, input_channels, height, width;
    long output_channels, kernel_height, kernel_width;
    long stride, padding;
} bulwark_convolution;

/// output = conv(input, weight) + bias (bias may be NULL). Returns 0 on success; otherwise
/// nothing was written and the caller falls back to its own kernel.
int bulwark_convolution_forward(const bulwark_convolution *geometry, const float *input,
                                const float *weight, const float *bias, float *output);

/// input_gradient = the gradient of the convolution with respect to its input (overwritten).
int bulwark_convolution_backward_data(const bulwark_convolution *geometry, const float *output_gradient,
                                      const float *weight, float *input_gradient);

/// weight_gradient = the gradient with respect to the weight, and bias_gradient (unless NULL)
/// the one with respect to the bias (both overwritten).
int bulwark_convolution_backward_weights(const bulwark_convolution *geometry, const float *input,
                                         const float *output_gradient, float *weight_gradient,
                                         float *bias_gradient);

/// The linked oneDNN's version, for run manifests. Returns 0 on success.
int bulwark_onednn_version(int *major, int *minor, int *patch);

#ifdef __cplusplus
}
#endif

#endif
