# A saved plan, and the sentence that says how to apply it.
esxnet plan manifests --target sim:lab --out plan.json
