"""train(ModelConfig, Dataset, TrainConfig, out=) -> TrainResult: the uncompressed model every stage compares to.

The model is built inside the distribution strategy's scope (MirroredStrategy needs its variables created
there) with the data's per-channel mean and std as its first layer, so it takes raw pixels. On a GPU,
mixed precision and XLA are on by default. A run folder holds `best.weights.h5` (written whenever validation
accuracy improves), `model.keras` (that best epoch as a float32 model, written when training ends),
`history.csv`, `curves.png`, `metrics.json` and `train_state.json`; `.backup/` holds the
last finished epoch (weights, optimizer, schedule) so `resume=True` continues a killed run, and goes when
training ends.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, tf
from resnet_edge.config import Recipe, Strategy, TrainConfig
from resnet_edge.console import console
from resnet_edge.data import Dataset
from resnet_edge.data.pipeline import eval_dataset, train_dataset
from resnet_edge.errors import ConfigError, TrainingFailed
from resnet_edge.fsutil import atomic_path, sha256, write_json, write_text
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.io import MODEL, save_keras, save_model_config, write_labels
from resnet_edge.models.pretrained import imagenet_model_config, load_imagenet_weights
from resnet_edge.models.resnet import build_resnet, copy_weights_by_name
from resnet_edge.plotting import pyplot, save_figure

STATE = "train_state.json"
CHANCE_MARGIN = 5.0  # points above chance a model must reach (or 3 standard errors of chance, if more)
BACKUP = ".backup"
BEST_WEIGHTS = "best.weights.h5"


@dataclass(frozen=True)
class RecipeSpec:
    """What a recipe name means: optimizer, peak learning rate for a batch of 128, schedule and regularization."""

    optimizer: str  # sgd (momentum 0.9), adam, adamw
    lr: float
    weight_decay: float  # decoupled: each step shrinks the weights by lr x weight_decay
    schedule: str  # step (/10 at 50 % and 75 %), plateau (ReduceLROnPlateau), cosine (linear warm-up, then cosine)
    label_smoothing: float = 0.0
    scale_lr: bool = True  # linear scaling with the batch (Goyal et al.); Adam's step size does not scale so


RECIPES = {
    Recipe.SGD_STEP: RecipeSpec("sgd", 0.1, 1e-4, "step"),
    Recipe.ADAM_PLATEAU: RecipeSpec("adam", 1e-3, 0.0, "plateau", scale_lr=False),
    Recipe.COSINE: RecipeSpec("sgd", 0.1, 5e-5, "cosine", label_smoothing=0.1),
    Recipe.ADAMW: RecipeSpec("adamw", 1e-3, 0.05, "cosine", label_smoothing=0.1, scale_lr=False),
    Recipe.FINETUNE: RecipeSpec("adamw", 1e-4, 1e-2, "cosine", label_smoothing=0.1, scale_lr=False),
}


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    model_config: ModelConfig
    best_val_accuracy: float
    best_epoch: int
    epochs: int
    seconds: float
    images_per_second: float
    device: str


def make_strategy(kind: Strategy) -> tf.distribute.Strategy:
    if kind is Strategy.MULTIWORKER:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind is Strategy.MIRRORED:  # all GPUs, or all logical CPUs where there is none
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    return tf.distribute.get_strategy()  # the default: TensorFlow places ops on the GPU when there is one


def worker_dir(out: Path) -> tuple[Path, bool]:
    """(folder this process writes, whether it is the chief). Under MultiWorkerMirroredStrategy every worker
    saves (saving reads distributed variables), but only the chief into the run folder (TensorFlow's advice)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = cluster.get("task", {})
    chief = task.get("type", "worker") == "chief" or (
        task.get("type", "worker") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in cluster.get("cluster", {})
    )
    return (out, True) if chief else (out / f".worker{task.get('index', 0)}", False)


def make_optimizer(config: TrainConfig, recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    spec = RECIPES[recipe]
    lr = config.lr if config.lr is not None else spec.lr * (config.batch_size / 128 if spec.scale_lr else 1.0)
    wd = config.weight_decay if config.weight_decay is not None else spec.weight_decay
    total = steps_per_epoch * config.epochs
    if spec.schedule == "plateau":
        schedule = lr
    elif spec.schedule == "step":  # He et al.: divide by 10 at 50 % and 75 % of training
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)], [lr, lr / 10, lr / 100]
        )
    else:
        warmup = max(1, min(total // 10, 5 * steps_per_epoch))
        schedule = keras.optimizers.schedules.CosineDecay(0.0, total - warmup, warmup_target=lr, warmup_steps=warmup)
    if spec.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=wd)
    if spec.optimizer == "adam":
        return keras.optimizers.Adam(schedule, weight_decay=wd or None)
    # decoupled weight decay on every weight, as SGD's weight_decay in the papers' frameworks
    return keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=wd or None)


def teacher_copy(model: keras.Model) -> keras.Model:
    """A copy to distill from: distillation freezes its teacher's layers, and the caller's model stays as it was
    (made where it is called: under a distribution strategy's scope, its variables live there)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def logits_model(model: keras.Model) -> keras.Model:
    """The model up to its classifier's logits (before the softmax): what distillation softens."""
    return keras.Model(model.input, model.get_layer("head_dense").output)


class Distiller(keras.Model):
    """Knowledge distillation (Hinton et al. 2015): the student learns from the labels and from the teacher's
    temperature-softened outputs, loss = (1 - alpha) CE(y, student) + alpha T^2 KL(teacher_T || student_T).
    Validation and saving see the student alone."""

    def __init__(self, student: keras.Model, teacher: keras.Model | None, temperature: float = 4.0,
                 alpha: float = 0.5) -> None:  # fmt: skip
        super().__init__(name="distiller")
        self.student = student
        self.student_logits = keras.Model(student.input, student.get_layer("head_dense").output)
        self.teacher_logits = None  # without a teacher, batches carry its logits: (x, y, teacher logits)
        if teacher is not None:
            self.teacher_logits = logits_model(teacher)
            self.teacher_logits.trainable = False
        self.temperature, self.alpha = temperature, alpha

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.student(x, training=training)

    def train_step(self, data: tuple[tf.Tensor, ...]) -> dict[str, tf.Tensor]:
        x, y, *given = data
        t = self.temperature
        teacher = given[0] if given else self.teacher_logits(x, training=False)
        soft_targets = tf.nn.softmax(tf.cast(teacher, tf.float32) / t)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.student_logits(x, training=True), tf.float32)
            y_pred = tf.nn.softmax(logits)
            hard = self.compiled_loss(y, y_pred)
            soft = tf.reduce_mean(keras.losses.kl_divergence(soft_targets, tf.nn.softmax(logits / t))) * t * t
            loss = (1 - self.alpha) * hard + self.alpha * soft
        self.optimizer.minimize(loss, self.student.trainable_variables, tape=tape)  # loss scaling included
        self.compiled_metrics.update_state(y, y_pred)
        return {**{m.name: m.result() for m in self.metrics}, "loss": loss}


class _RunRecorder(keras.callbacks.Callback):
    """History, best-only checkpoint and run state, each written atomically at every epoch's end.

    On resume, fit restarts at the epoch after the last backed-up one; rows of later epochs (written before
    a kill but never backed up) are dropped, so history and weights always agree.
    """

    def __init__(self, out: Path, state: dict[str, Any], train_images: int, student: keras.Model) -> None:
        super().__init__()
        self.out, self.state, self.train_images, self.student = out, state, train_images, student
        self._first_epoch: int | None = None
        self._started = time.time()
        self._epoch_start = 0.0
        self._train_seconds = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
            self.state["history"] = [r for r in self.state["history"] if r["epoch"] <= epoch]
        self._epoch_start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:  # validation starts: the training part ends
        self._train_seconds = time.perf_counter() - self._epoch_start

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        lr = self.model.optimizer.learning_rate
        lr_now = float(lr(self.model.optimizer.iterations) if callable(lr) else keras.backend.get_value(lr))
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items() if k != "learning_rate"}, "lr": lr_now,
               "seconds": time.perf_counter() - self._epoch_start, "wall_seconds": time.time() - self._started,
               "images_per_second": self.train_images / max(self._train_seconds, 1e-9)}  # fmt: skip
        self.state["history"].append(row)
        best = self.state["best"]
        if row["val_accuracy"] > best["val_accuracy"]:
            # weights only: a full model.save of a compiled model took 12 s here; model.keras is written at the end
            with atomic_path(self.out / BEST_WEIGHTS) as tmp:
                self.student.save_weights(tmp)
            self.state["best"] = {"epoch": epoch + 1, "val_accuracy": row["val_accuracy"]}
        write_text(self.out / "history.csv", _csv(self.state["history"]))
        write_json(self.out / STATE, self.state)
        console.print(
            f"epoch {epoch + 1:>3}  loss {row['loss']:.4f}  acc {row['accuracy']:.4f}  "
            f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.4f}  lr {lr_now:.2e}  "
            f"{row['seconds']:.1f}s  {row['images_per_second']:.0f} img/s"
            + ("  *" if self.state["best"]["epoch"] == epoch + 1 else "")
        )


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["epoch"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def plot_curves(history: list[dict[str, Any]], path: Path, title: str) -> None:
    plt = pyplot()

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("", "-"), ("val_", "--")):
        label = "validation" if split else "train"
        ax_loss.plot(epochs, [r[f"{split}loss"] for r in history], style, label=label)
        ax_acc.plot(epochs, [r[f"{split}accuracy"] for r in history], style, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path)


def has_run(out: str | Path) -> bool:
    """Whether `out` holds a training run (finished or interrupted): `train(..., resume=True)` continues it."""
    return (Path(out) / STATE).exists()


def read_history(out: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records (loss, accuracy, val_loss, val_accuracy, lr, seconds) of the run in `out`."""
    return json.loads((Path(out) / STATE).read_text())["history"]


def _initial_state(out: Path, resume: bool, config: dict[str, Any]) -> dict[str, Any]:
    path = out / STATE
    if path.exists():
        try:
            state = json.loads(path.read_text())
            missing = {"status", "config", "history", "best"} - set(state)
            if missing or not isinstance(state["history"], list) or "val_accuracy" not in state["best"]:
                raise KeyError(sorted(missing))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise ConfigError(
                f"run folder '{out}' holds a damaged {STATE}; choose another --out, or delete the folder to start over"
            ) from None
        if not resume:
            raise ConfigError(
                f"run folder '{out}' already holds a training run ({state['status']}); "
                "pass --resume to continue it, or choose another --out"
            )
        if state["config"] != config:
            raise ConfigError(f"run folder '{out}' was trained with another configuration; --resume needs the same")
        return state
    if resume:
        raise ConfigError(f"--resume: run folder '{out}' holds no training run to continue")
    return {"status": "running", "config": config, "history": [], "best": {"epoch": 0, "val_accuracy": -1.0}}


def _model_intact(out: Path, state: dict[str, Any]) -> bool:
    """Whether the finished run's model.keras is still the file training wrote (a run folder must not claim
    what it does not hold)."""
    path = out / "model.keras"
    return path.is_file() and state.get("model_sha256") in (None, sha256(path))


def _check_fits(model_config: ModelConfig, data: Dataset, config: TrainConfig) -> None:
    shape = (model_config.input_size, model_config.input_size, model_config.channels)
    if data.x_train.shape[1:] != shape:
        raise ConfigError(f"model input {shape} does not fit data '{data.source}' of shape {data.x_train.shape[1:]}")
    if model_config.classes != data.num_classes:
        raise ConfigError(
            f"model has {model_config.classes} classes but data '{data.source}' has {data.num_classes} "
            f"({', '.join(data.class_names)})"
        )


def _use_gpu_defaults(config: TrainConfig) -> tuple[bool, bool, str]:
    gpus = tf.config.list_physical_devices("GPU")
    mixed = config.mixed_precision if config.mixed_precision is not None else bool(gpus)
    xla = config.xla if config.xla is not None else bool(gpus)
    return mixed, xla, f"{len(gpus)} GPU" if gpus else "CPU"


def _build_and_compile(model_config, config, recipe, strategy, steps, mixed, xla, initial, teacher):
    """(model to fit, the student inside it): the ResNet itself, or a Distiller around it."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    with strategy.scope():
        student = build_resnet(model_config)
        if initial is not None:
            copy_weights_by_name(initial, student)
        if recipe is Recipe.FINETUNE:
            _freeze_batch_norm(student)
        model = student
        if teacher is not None:  # the teacher's variables must live under the same strategy
            model = Distiller(student, teacher_copy(teacher))
        _compile(model, make_optimizer(config, recipe, steps), RECIPES[recipe].label_smoothing, xla)
    return model, student


def _compile(model: keras.Model, optimizer: keras.optimizers.Optimizer, smoothing: float, xla: bool) -> None:
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=xla)


def _freeze_batch_norm(model: keras.Model) -> None:
    """Pretrained BatchNorm keeps its statistics and affine terms: a frozen tf_keras BN layer runs in inference
    mode, so small fine-tuning batches cannot overwrite the ImageNet statistics the convolutions were trained
    with (the Keras transfer-learning guide's advice)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _fit_head_first(model, student, train_ds, val_ds, xla: bool, main_optimizer) -> None:
    """FINETUNE's first phase: one epoch of the new head alone (Adam 1e-3) on the frozen backbone, so the
    random head's large early gradients do not disturb the pretrained features; then everything but BN."""
    trainable = {layer.name: layer.trainable for layer in student.layers}
    for layer in student.layers:
        layer.trainable = layer.name == "head_dense"
    _compile(model, keras.optimizers.Adam(1e-3), 0.1, xla)
    logs = model.fit(train_ds, validation_data=val_ds, epochs=1, verbose=0).history
    console.print(f"head only: val_acc {logs['val_accuracy'][-1]:.4f} (backbone frozen)")
    for layer in student.layers:
        layer.trainable = trainable[layer.name]
    _compile(model, main_optimizer, RECIPES[Recipe.FINETUNE].label_smoothing, xla)


def auto_recipe(model_config: ModelConfig, weights: str | None = None) -> Recipe:
    """The recipe `--recipe auto` (the default) gives this model (README's recipe table has the numbers).

    From ImageNet weights: finetune. From scratch, every depth family gets Adam at a constant 1e-3 with
    plateau decay: on the built-in set (4000 images, 31 steps an epoch) ResNet-50 reached 94.7 % by epoch 7
    with it, against 88.3 % for Adam with warm-up and cosine decay, 83.1 % for AdamW and 22 % for SGD cosine
    (lr 0.1 diverged in the first epoch); short runs on small data are under-trained, and a schedule that
    decays early or an SGD step size tuned for ImageNet's 5000 steps an epoch costs more than it gives.
    """
    if weights is not None:
        return Recipe.FINETUNE
    return Recipe.ADAM_PLATEAU


def check_learned(
    best_val_accuracy: float, data: Dataset, config: TrainConfig, recipe: Recipe, name: str, out: Path
) -> None:
    """Raise TrainingFailed when the model ended near chance (or below `min_accuracy`): later stages would
    otherwise compress, export and "validate" a model that learned nothing (a constant predictor agrees with
    its own int8 copy)."""
    counts = np.bincount(data.y_val, minlength=data.num_classes)
    n = int(counts.sum())
    chance = 100.0 * counts.max() / n  # what always answering the largest class scores
    stderr = 100.0 * math.sqrt(chance / 100 * (1 - chance / 100) / n)
    floor = config.min_accuracy if config.min_accuracy is not None else chance + max(CHANCE_MARGIN, 3 * stderr)
    reached = 100.0 * best_val_accuracy
    if reached >= floor:
        return
    others = ", ".join(r.value for r in (Recipe.ADAM_PLATEAU, Recipe.COSINE, Recipe.ADAMW) if r is not recipe)
    if config.min_accuracy is not None:
        why = f"below train.min_accuracy {floor:.1f} %"
    else:
        why = f"{reached - chance:+.1f} points from chance ({chance:.1f} %, the largest class of {n} images)"
    raise TrainingFailed(
        f"{name} reached {reached:.1f} % validation accuracy, {why}: it learned nothing usable, so nothing is "
        f"compressed; try another --recipe ({others}), more --epochs, a lower --lr or --weights (ImageNet); "
        f"the run folder {out} is kept"
    )


def _resolve(model_config: ModelConfig, data: Dataset, config: TrainConfig, initial_model: keras.Model | None
             ) -> tuple[ModelConfig, TrainConfig, Recipe]:  # fmt: skip
    """What will be trained: the batch clamped to the data, the ImageNet layout, the input normalization (from
    the training pixels, inside the model) and the recipe `auto` stands for."""
    if config.batch_size > len(data.x_train):  # a batch larger than the data is one batch of all of it
        console.print(
            f"batch size {config.batch_size} > {len(data.x_train)} training images: using {len(data.x_train)}"
        )
        config = replace(config, batch_size=len(data.x_train))
    if config.weights is not None and initial_model is None:
        model_config = imagenet_model_config(config.weights, model_config)  # cheap: the weights load later
    if model_config.input_mean is None:
        mean, std = data.channel_stats()
        model_config = replace(model_config, input_mean=mean, input_std=std)
    recipe = config.recipe if config.recipe is not Recipe.AUTO else auto_recipe(model_config, config.weights)
    return model_config, config, recipe


def _state_for(out: Path, resume: bool, run_config: dict[str, Any]) -> dict[str, Any]:
    """The run's state: new, resumed, or a finished run whose model.keras went missing (trained again)."""
    state = _initial_state(out, resume, run_config)
    if state["status"] == "complete" and not _model_intact(out, state):
        console.print(
            f"[yellow]{out}: model.keras is missing or changed since training finished; training again[/yellow]"
        )
        shutil.rmtree(out / BACKUP, ignore_errors=True)
        state = {**state, "status": "running", "history": [], "best": {"epoch": 0, "val_accuracy": -1.0}}
    return state


def _callbacks(out: Path, state: dict[str, Any], data: Dataset, student: keras.Model, recipe: Recipe) -> list:
    callbacks = [keras.callbacks.BackupAndRestore(str(out / BACKUP)), _RunRecorder(out, state, len(data.x_train),
                                                                                   student)]  # fmt: skip
    if RECIPES[recipe].schedule == "plateau":
        callbacks += [
            keras.callbacks.ReduceLROnPlateau("val_loss", factor=math.sqrt(0.1), patience=5, min_lr=5e-7),
            keras.callbacks.EarlyStopping("val_accuracy", patience=10),
        ]
    return callbacks


def _fit(
    model_config: ModelConfig,
    data: Dataset,
    config: TrainConfig,
    recipe: Recipe,
    out: Path,
    state: dict[str, Any],
    initial_model: keras.Model | None,
    teacher: keras.Model | None,
) -> tuple[bool, bool, str]:
    """Build, compile and fit (resuming from the backup when there is one); (mixed, xla, device) as used."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    mixed, xla, device = _use_gpu_defaults(config)
    strategy = make_strategy(config.strategy)
    steps = math.ceil(len(data.x_train) / config.batch_size)
    try:
        model, student = _build_and_compile(model_config, config, recipe, strategy, steps, mixed, xla, initial_model,
                                            teacher)  # fmt: skip
        train_ds = train_dataset(data.x_train, data.y_train, num_classes=data.num_classes,
                                 batch_size=config.batch_size, seed=config.seed, augment=config.augment)  # fmt: skip
        val_ds = eval_dataset(data.x_val, data.y_val, num_classes=data.num_classes, batch_size=config.batch_size)
        auto = f" (auto for {model_config.name})" if config.recipe is Recipe.AUTO else ""
        console.print(
            f"training {model_config.name} on {len(data.x_train)} images ({data.source}), "
            f"{len(data.x_val)} for validation · {recipe.value}{auto} · {config.epochs} epochs · "
            f"batch {config.batch_size} · {device}{' · mixed float16' if mixed else ''}{' · XLA' if xla else ''}"
            f" · {strategy.num_replicas_in_sync} replica(s)" + (f" · from {config.weights}" if config.weights else "")
        )
        if recipe is Recipe.FINETUNE and not (out / BACKUP).exists():
            with strategy.scope():
                _fit_head_first(model, student, train_ds, val_ds, xla, make_optimizer(config, recipe, steps))
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                  callbacks=_callbacks(out, state, data, student, recipe), verbose=0)  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return mixed, xla, device


def train(
    model_config: ModelConfig,
    data: Dataset,
    config: TrainConfig,
    *,
    out: str | Path,
    resume: bool = False,
    initial_model: keras.Model | None = None,
    teacher: keras.Model | None = None,
    reports: bool = True,
) -> TrainResult:
    """Train `model_config` on `data`; `initial_model` seeds the weights by layer name (fine-tuning) and
    `teacher` adds knowledge distillation from that model's outputs. `config.weights` starts from ImageNet
    weights. Without `reports` (a pruning step's fine-tune, judged by its caller) no curves plot and no
    per-split reports. Raises TrainingFailed (run folder kept) when the model ends near chance."""
    out, chief = worker_dir(Path(out))
    _check_fits(model_config, data, config)
    model_config, config, recipe = _resolve(model_config, data, config, initial_model)
    run_config = {"model": model_config.to_dict(), "train": config.to_dict(), "data": data.source,
                  "classes": list(data.class_names)}  # fmt: skip
    state = _state_for(out, resume, run_config)
    if state["status"] == "complete":
        console.print(f"[dim]{out}: training already complete[/dim]")
        check_learned(state["best"]["val_accuracy"], data, config, recipe, model_config.name, out)
        return _result(out, model_config, state)
    if config.weights is not None and initial_model is None:  # read before anything is written: a bad file costs
        _, initial_model = load_imagenet_weights(config.weights, model_config)  # nothing
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / STATE, state)
    save_model_config(out, model_config)
    write_labels(out, data.class_names)
    mixed, xla, device = _fit(model_config, data, config, recipe, out, state, initial_model, teacher)
    # The best epoch as a plain float32 model (no optimizer, no mixed-precision policy): what later stages load.
    best = build_resnet(model_config)
    best.load_weights(out / BEST_WEIGHTS)
    save_keras(best, out / MODEL)
    state["status"] = "complete"
    state["model_sha256"] = sha256(out / MODEL)
    result = _result(out, model_config, state, device)
    splits = {}
    if reports:
        plot_curves(state["history"], out / "curves.png", f"{model_config.name} on {data.source}")
        splits = split_reports(best, data)
    write_json(out / "metrics.json", {**_metrics(result, state, mixed, xla, config, recipe), **splits})
    write_json(out / STATE, state)
    shutil.rmtree(out / BACKUP, ignore_errors=True)
    if not chief:
        shutil.rmtree(out, ignore_errors=True)
    check_learned(result.best_val_accuracy, data, config, recipe, model_config.name, out)
    return result


@dataclass(frozen=True)
class Lessons:
    """Augmented training images with the teacher's logits, drawn once for a number of epochs. Every fine-tune
    of a pruning search started the same seeded augmentation stream and its teacher is frozen, so each step
    trained on the same batches and teacher outputs: drawn once (from that stream), they take the teacher's
    forward pass and the augmentation out of every step. tests/test_train.py checks that stored logits train
    exactly as the teacher run in each step."""

    epochs: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # per epoch, in batch order: x, y, logits
    batch_size: int

    MAX_BYTES = 2 << 30  # above this the lessons are not kept: each fine-tune runs the teacher itself

    @classmethod
    def draw(cls, data: Dataset, config: TrainConfig, teacher: keras.Model, epochs: int) -> Lessons | None:
        """`epochs` epochs of `train`'s batches for `config` and the teacher's logits; None when they would not
        fit in MAX_BYTES (or the images stream from files)."""
        x = data.x_train
        if not isinstance(x, np.ndarray) or 4 * x[0].size * len(x) * epochs > cls.MAX_BYTES:
            return None
        batch = min(config.batch_size, len(x))
        keras.utils.set_random_seed(config.seed)  # as `finetune` does: tf.data's seeds pair with the global one
        ds = train_dataset(x, data.y_train, num_classes=data.num_classes, batch_size=batch, seed=config.seed,
                           augment=config.augment)  # fmt: skip
        logits = logits_model(teacher)
        drawn = []
        for _ in range(epochs):  # one pass of the dataset per epoch, as fit makes them (reshuffled each time)
            xs, ys = zip(*((bx.numpy(), by.numpy()) for bx, by in ds), strict=True)
            ts = [logits.predict_on_batch(bx) for bx in xs]
            drawn.append((np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)))
        return cls(tuple(drawn), batch)

    def dataset(self, epochs: int) -> tf.data.Dataset:
        """The first `epochs` epochs' batches, in the order they were drawn: (x, y, teacher logits)."""
        parts = [tf.data.Dataset.from_tensor_slices(e).batch(self.batch_size) for e in self.epochs[:epochs]]
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
        return ds.prefetch(tf.data.AUTOTUNE)


def finetune(model: keras.Model, data: Dataset, config: TrainConfig, teacher: keras.Model | None = None,
             lessons: Lessons | None = None) -> keras.Model:  # fmt: skip
    """Fine-tune `model` in place for `config.epochs` on its own schedule, distilled from `teacher` (frozen:
    pass a copy) or from `lessons` drawn from it, and return it: a pruning step's short fine-tune, judged by its
    caller. No run folder, checkpoint, validation pass or reload, which `train` spends per call (a third of a
    one-epoch ResNet-56 step here: 27 s against 18 s)."""
    keras.utils.set_random_seed(config.seed)
    recipe = config.recipe if config.recipe is not Recipe.AUTO else Recipe.COSINE
    batch = lessons.batch_size if lessons else min(config.batch_size, len(data.x_train))
    steps = math.ceil(len(data.x_train) / batch)
    if lessons is not None and config.epochs <= len(lessons.epochs):
        fitted, train_ds = Distiller(model, None), lessons.dataset(config.epochs)
        epochs = 1  # one pass over the drawn epochs, back to back
    else:
        fitted = Distiller(model, teacher) if teacher is not None else model
        train_ds = train_dataset(data.x_train, data.y_train, num_classes=data.num_classes, batch_size=batch,
                                 seed=config.seed, augment=config.augment)  # fmt: skip
        epochs = config.epochs
    _compile(fitted, make_optimizer(replace(config, batch_size=batch), recipe, steps),
             RECIPES[recipe].label_smoothing, xla=_use_gpu_defaults(config)[1])  # fmt: skip
    fitted.fit(train_ds, epochs=epochs, verbose=0)
    return model


def _result(out: Path, model_config: ModelConfig, state: dict[str, Any], device: str = "") -> TrainResult:
    history = state["history"]
    return TrainResult(
        model_path=out / "model.keras",
        model_config=model_config,
        best_val_accuracy=state["best"]["val_accuracy"],
        best_epoch=state["best"]["epoch"],
        epochs=len(history),
        seconds=float(sum(r["seconds"] for r in history)),
        images_per_second=float(np.median([r["images_per_second"] for r in history])) if history else 0.0,
        device=device,
    )


def split_reports(model: keras.Model, data: Dataset) -> dict[str, Any]:
    """The model's ClassReport (accuracy with its interval, per-class precision/recall/F1, confusion matrix,
    escape and false-reject rates) on the validation split (decisions) and the test split (reported only)."""
    from resnet_edge.metrics import ClassReport, top1

    out = {}
    for split, x, y in (("validation", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
        pred = top1(model.predict(x.astype("float32"), batch_size=256, verbose=0))
        out[split] = ClassReport.of(pred, y, data.class_names, data.good).to_dict()
    return out


def _metrics(
    result: TrainResult, state: dict, mixed: bool, xla: bool, config: TrainConfig, recipe: Recipe
) -> dict[str, Any]:
    last = state["history"][-1]
    return {
        "model": result.model_config.name,
        "best_val_accuracy": result.best_val_accuracy,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "final_train_accuracy": last["accuracy"],
        "final_val_accuracy": last["val_accuracy"],
        "train_seconds": result.seconds,
        "images_per_second": result.images_per_second,
        "device": result.device,
        "mixed_precision": mixed,
        "xla": xla,
        "strategy": config.strategy.value,
        "seed": config.seed,
        "recipe": recipe.value,
        "recipe_asked": config.recipe.value,
        "weights": config.weights,
    }
