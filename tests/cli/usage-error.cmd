# A misspelt flag is a usage error: exit 1 (2 means drift), naming the flag meant.
esxnet drift manifests --targte sim:lab
