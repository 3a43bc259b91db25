# A saved plan that is not JSON.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply garbage.json --target sim:lab --auto-approve
