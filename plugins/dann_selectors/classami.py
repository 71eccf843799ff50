"""``classami``: agreement between the classes a candidate predicts and the clusters of its features
(Musgrave, Belongie & Lim, "Benchmarking Validation Methods for Unsupervised Domain Adaptation",
2022: ClassAMI with centroid initialisation, with source, L2-normalised features).

The rows are the target view's (labelled with the candidate's predictions ŷ) and the source-val
split's (labelled with their true labels); their features are L2-normalised, clustered by k-means
with K = the number of classes starting from each label's mean feature, and

    ClassAMI = AMI(labels, clusters)                 (adjusted mutual information; higher is better)

High when the classifier's decision regions follow the clusters of the representation. Musgrave et
al. used the source *training* features; here the source-val split (held out, already forwarded at
every evaluation) stands in for them. Starting k-means from the label means makes the score
deterministic (no random restarts), so a step scores the same at the evaluation and afterwards.
``layer=logits`` clusters the logits instead of the features: it then reads the stored views only
and scores every evaluated step of a finished run; with features it scores kept candidates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.selection import Candidate, Selector
from dann_selectors.clustering import adjusted_mutual_info, kmeans, label_centres


def class_ami(target: torch.Tensor, pseudo_labels: torch.Tensor, source: torch.Tensor | None, source_labels: torch.Tensor | None,
              num_classes: int) -> float:
    """AMI between the labels and the k-means clusters (from the label means) of the L2-normalised rows."""
    points, labels = target, pseudo_labels
    if source is not None:
        points, labels = torch.cat([target, source]), torch.cat([pseudo_labels, source_labels.long()])
    points = F.normalize(points.double(), dim=1)
    clusters = kmeans(points, label_centres(points, labels, num_classes))
    return adjusted_mutual_info(labels, clusters)


class ClassAMI(Selector):
    """Adjusted mutual information of predicted classes and feature clusters; higher is better.

    Options:
      layer: features (the backbone's) or logits.
      source: include the labelled source-val rows.
    """

    def __init__(self, layer: str = "features", source: bool = True) -> None:
        if layer not in ("features", "logits"):
            raise ValueError(f"classami selector: layer must be features or logits, got {layer!r}")
        self.layer, self.source = layer, bool(source)

    def score(self, candidate: Candidate) -> float | None:
        data = candidate.data
        target_x = data.view("target")
        if len(target_x) == 0:
            return None
        rows = candidate.view_logits if self.layer == "logits" else (lambda name: candidate.features(data.view(name)))
        pseudo = candidate.view_logits("target").argmax(dim=1)
        with_source = self.source and data.source_val.y is not None and len(data.source_val) > 0
        source, source_labels = (rows("source_val"), data.source_val.y) if with_source else (None, None)
        return class_ami(rows("target"), pseudo, source, source_labels, data.num_classes)
