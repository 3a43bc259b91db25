# Control characters in names never reach the terminal raw: diagnostics show them escaped.
esxnet validate names.yaml
