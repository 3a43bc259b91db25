# Changes pending exit 2 with --detailed-exitcode.
esxnet plan manifests --target sim:lab --detailed-exitcode --output json
