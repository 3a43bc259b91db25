# The rules that need the hosts' state run against the lab too.
esxnet validate manifests --target sim:lab
