# The examples planned on a fresh lab, as a pull-request comment.
esxnet plan manifests --target sim:lab --output markdown
