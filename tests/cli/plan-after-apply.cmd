# After an apply, the plan is empty.
esxnet apply manifests --target sim:lab --auto-approve
esxnet plan manifests --target sim:lab --detailed-exitcode
