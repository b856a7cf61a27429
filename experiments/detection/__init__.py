"""Object detection and instance segmentation (COCO 2017 layout).

``experiments.detection.coco``     reads a COCO-format tree into torchvision detection targets
                                   (``CocoDetectionDataset``, ``collate``) and scores predictions
                                   with pycocotools' ``COCOeval`` (``evaluate``).
``experiments.detection.offline``  writes a small COCO-format set generated from Fashion-MNIST
                                   (``make_offline_coco``; ``python -m experiments.detection.offline OUT``),
                                   for CPU smoke runs and tests on machines without COCO.

Both are registered in ``experiments.data`` as the datasets ``coco`` and ``fmnistcoco``.
"""
