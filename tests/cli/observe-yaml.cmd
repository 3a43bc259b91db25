# What a fresh two-host lab has, as YAML.
esxnet sim init lab --hosts 2
esxnet observe --target sim:lab
