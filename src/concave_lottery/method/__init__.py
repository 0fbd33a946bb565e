"""The method (Sections III and V): the concave regularizers r(m) of Assumption 1, the mask that
reparametrizes every prunable weight as m ⊙ θ, the search methods (Algorithm 1, IMP, the sigmoid and
fixed-fraction baselines) and rewinding θ to θ_0 or θ_k."""
