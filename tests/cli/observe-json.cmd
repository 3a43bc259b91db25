# One host of a fresh lab, as JSON.
esxnet sim init lab --hosts 2
esxnet observe --target sim:lab --hosts esx-2 --output json
