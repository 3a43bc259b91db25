# The Markdown report of the same drift never says there is nothing to see while drift exits 2.
esxnet apply manifests --target sim:lab --auto-approve
esxnet drift manifests --target sim:lab --output markdown
