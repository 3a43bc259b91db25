# The examples planned on a fresh lab, as JSON (the machine format, schemas/plan.json).
esxnet plan manifests --target sim:lab --output json
