# Control characters in a name are shown escaped in the text plan.
esxnet plan adapter.yaml --target sim:lab
