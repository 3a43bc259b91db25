# Part of a saved plan was applied by someone else (the same manifests' provisioning network): the
# rest of it is applied; steps already done count as equal.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply lab-a.yaml --target sim:lab --auto-approve
applies
esxnet apply plan.json --target sim:lab --auto-approve
