"""The Kubernetes target: a kustomize tree per cluster (Deployments, KEDA, SOPS Secrets).

``tree.build_cluster_tree`` is a pure function from the compiler core's typed values
(placement, runtimes' argv, exec-spec entries, secret references) to a ``ClusterTree`` in
memory; its Secrets hold no value yet. ``secrets.encrypt_tree`` gives them values,
encrypted with the real sops for the cluster's age recipient, at the edge where the tree
is written; ``plan.plan_cluster`` says which Deployments roll and why.
"""
