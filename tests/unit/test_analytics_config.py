"""config/analytics.yml: every commented example works when uncommented; unknown keys of
the stage sections (graph, topics, audience) are refused naming the key and the allowed ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from social_warehouse.analytics._config import ConfigMixin
from social_warehouse.analytics.campaigns import CampaignConfig
from social_warehouse.analytics.collaboration import CollaborationConfig
from social_warehouse.analytics.influence import AudienceQualityConfig, InfluenceConfig
from social_warehouse.analytics.seeding import SeedingConfig
from social_warehouse.config import get_settings
from social_warehouse.stages import STAGE_CONFIG_KEYS, load_analytics_config

CONFIG = Path(__file__).resolve().parents[2] / "config" / "analytics.yml"
CLASSES: dict[str, type[ConfigMixin]] = {
    "influence": InfluenceConfig, "audience_quality": AudienceQualityConfig,
    "collaboration": CollaborationConfig, "campaigns": CampaignConfig,
    "seeding": SeedingConfig,
}
EXAMPLE = re.compile(r"^(\s+)# ([a-z_]+: .*)$")


def _uncommented(text: str) -> tuple[str, list[tuple[str, str]]]:
    lines, examples, section = [], [], None
    for line in text.splitlines():
        top = re.match(r"^([a-z_]+):", line)
        if top:
            section = top.group(1)
        m = EXAMPLE.match(line)
        if m:
            line = m.group(1) + m.group(2)
            examples.append((section, m.group(2).split(":")[0]))
        lines.append(line)
    return "\n".join(lines) + "\n", examples


def _load(tmp_path, monkeypatch, text: str) -> dict:
    path = tmp_path / "analytics.yml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SW_ANALYTICS_CONFIG", str(path))
    return load_analytics_config(get_settings())


def test_every_commented_example_works_uncommented(tmp_path, monkeypatch):
    text, examples = _uncommented(CONFIG.read_text(encoding="utf-8"))
    assert ("topics", "n_topics") in examples and ("influence", "weights") in examples
    data = _load(tmp_path, monkeypatch, text)
    for section, key in examples:
        assert key in data[section], (section, key)
    for section, cls in CLASSES.items():
        assert isinstance(cls.from_dict(data.get(section) or {}), cls)
    assert data["topics"]["n_topics"] == 12


def test_shipped_file_uses_only_known_keys(tmp_path, monkeypatch):
    data = _load(tmp_path, monkeypatch, CONFIG.read_text(encoding="utf-8"))
    for section, allowed in STAGE_CONFIG_KEYS.items():
        assert set(data[section]) <= allowed


@pytest.mark.parametrize("section", sorted(STAGE_CONFIG_KEYS))
def test_unknown_stage_key_names_the_key_and_the_allowed_ones(tmp_path, monkeypatch, section):
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data[section] = {**(data.get(section) or {}), "sed": 1}  # a typo of "seed"
    with pytest.raises(ValueError) as err:
        _load(tmp_path, monkeypatch, yaml.safe_dump(data))
    msg = str(err.value)
    assert "'sed'" in msg and repr(section) in msg and "'seed'" in msg


def test_a_section_that_is_not_a_mapping_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="section 'graph' must be a mapping"):
        _load(tmp_path, monkeypatch, "graph: [edges]\n")
