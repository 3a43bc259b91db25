# A plan made against another lab whose hosts have the same names (and where vSwitch1 exists
# already), its recorded target edited to name this lab: planning again here gives another plan.
esxnet plan manifests --target sim:lab
esxnet plan manifests --target sim:other
esxnet apply other.yaml --target sim:other --auto-approve
esxnet plan manifests --target sim:other --out plan.json
edit plan.json /made_from/target = "sim:[SCRATCH]/lab"
esxnet apply plan.json --target sim:lab --auto-approve
