"""Run an official evaluator on a folder and print its per-object numbers as JSON.

Started by tests/test_eval_protocols.py with an interpreter that has the official
code's dependencies (cv2, skimage, scipy, tqdm); nothing here computes a score: it only
calls the official functions and reports what they return.

    python official_eval.py lvos CHECKOUT SPLIT_DIR PRED_DIR WORK_DIR
    python official_eval.py mose CHECKOUT META GT_DIR PRED_DIR
    python official_eval.py sav CHECKOUT GT_DIR PRED_DIR
"""

import json
import os
import sys


def lvos(checkout, split_dir, pred_dir, work_dir):
    sys.path.insert(0, checkout)
    from lvos.evaluation import LVOSEvaluation

    os.chdir(work_dir)  # it reads ./unseen_videos.txt and ./unsupervised_videos.txt
    evaluation = LVOSEvaluation(lvos_root=split_dir, task="semi-supervised", gt_set="valid")
    everything, _, _ = evaluation.evaluate(pred_dir)
    return {key: [float(everything[m]["M_per_object"][key]) for m in ("J", "F", "V")]
            for key in everything["J"]["M_per_object"]}


def mose(checkout, meta_path, gt_dir, pred_dir):
    sys.path.insert(0, checkout)
    import score

    with open(meta_path) as file:
        meta = json.load(file)["videos"]
    out = {}
    for video, entry in meta.items():
        for anno_id in entry["objects"]:
            chunk = score.process_video_chunk(video, meta, pred_dir, gt_dir, 1, entry["length"] - 1, anno_id, 0)
            merged = score.merge_chunk_results([chunk], video, anno_id)
            out[f"{video}_{anno_id}"] = [None if v is None else float(v) for v in merged]
    return out


def sav(checkout, gt_dir, pred_dir):
    sys.path.insert(0, checkout)
    from utils.sav_benchmark import VideoEvaluator

    evaluator = VideoEvaluator(gt_dir, pred_dir)
    out = {}
    for video in sorted(os.listdir(gt_dir)):
        _, iou, boundary = evaluator(video)
        for obj in iou:
            out[f"{video}_{obj}"] = [float(iou[obj]), float(boundary[obj])]
    return out


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    result = {"lvos": lvos, "mose": mose, "sav": sav}[kind](*args)
    sys.stdout.write("\nRESULT " + json.dumps(result) + "\n")
