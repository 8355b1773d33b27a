"""Benchmark programs, beside the launcher rather than in it: `step` (`make bench`: our
train step and input pipeline), `keras_step` (our step against Keras 3's), `layers` (each
convolution against TensorFlow's), `conv` (XLA:CPU convolution libraries and pools), and
`harness`, what they share. Results and the commands that produced them: BENCHMARKS.md."""
