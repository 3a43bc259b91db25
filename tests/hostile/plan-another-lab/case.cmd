# A plan made against another lab whose hosts have the same names.
esxnet plan manifests --target sim:lab
esxnet plan manifests --target sim:other --out plan.json
esxnet apply plan.json --target sim:lab --auto-approve
