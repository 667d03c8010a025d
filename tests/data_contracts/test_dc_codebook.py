"""The shipped codebook: code groups as delivery_format.md's default codebook states them."""

import pytest

from data_contracts.codebook import load_codebook


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.mark.parametrize(
    ("code", "group", "kind"),
    [
        ("111", "dagpenge", "target"),
        ("115", "dagpenge", "target"),
        ("130", "kontanthjaelp_jobparat", "target"),
        ("131", "kontanthjaelp_jobparat", "target"),
        ("132", "kontanthjaelp_other", "other_benefit"),
        ("139", "kontanthjaelp_other", "other_benefit"),
        ("890", "other_benefit", "other_benefit"),
        ("200", "other_benefit", "other_benefit"),
        ("651", "other_exit", "other_exit"),
        ("652", "other_exit", "other_exit"),
        ("997", "censoring", "censoring"),
        ("999", "censoring", "censoring"),
    ],
)
def test_dream_groups(codebook, code, group, kind):
    g = codebook.dream_group_of(code)
    assert g is not None and g.name == group and g.kind == kind


@pytest.mark.parametrize("code", [None, "", "100", "116", "900", "996"])
def test_no_benefit_or_unknown(codebook, code):
    assert codebook.dream_group_of(code) is None


def test_kontaktform_categories(codebook):
    assert codebook.kontaktform_codes("digital") == ("T", "V", "D")
    assert codebook.kontaktform_codes("in_person") == ("P",)
    assert codebook.kontaktform_codes("other") == ("B",)


def test_kontaktform_forms(codebook):
    # other digital maps to video by default; the letter has no form
    assert codebook.kontaktform_forms() == {"P": "in_person", "T": "telephone", "V": "video", "D": "video"}


def test_kontaktform_form_must_agree_with_category():
    from pydantic import ValidationError

    from data_contracts.codebook import KontaktformCode

    with pytest.raises(ValidationError, match="form 'telephone' needs category 'digital'"):
        KontaktformCode(category="in_person", label="x", form="telephone")


def test_meeting_types_and_municipalities(codebook):
    assert codebook.samtaletype_code("jobsamtale") == 7
    assert codebook.samtaletype_code("opfoelgningssamtale") == 4
    assert len(codebook.kommuner) == 98
    assert codebook.kommuner[450] == "Nyborg"


def test_hfaudd_levels(codebook):
    assert codebook.hfaudd_level(1010) == 1
    assert codebook.hfaudd_level(6520) == 7
    assert codebook.hfaudd_level(None) is None


def test_hash_identifies_the_file(codebook, tmp_path):
    other = tmp_path / "codebook.yaml"
    text = codebook_path_text()
    other.write_text(text.replace('version: "', 'version: "x'), encoding="utf-8")
    assert load_codebook(other).sha256 != codebook.sha256


def codebook_path_text():
    from data_contracts.codebook import DEFAULT_CODEBOOK_PATH

    return DEFAULT_CODEBOOK_PATH.read_text(encoding="utf-8")
