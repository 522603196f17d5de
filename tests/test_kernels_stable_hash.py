"""The stable hash kernel (``scoring._kernels.stable_hash``) against its pure-Python reference.

The kernel hashes with pandas' SipHash-2-4; the reference runs SipHash-2-4 (written out from the
paper) and splitmix64's finaliser id by id. Equal on random ids, salts and keys, so the control
groups do not depend on pandas' internals staying as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring._kernels.stable_hash import siphash24, stable_unit_hash, stable_unit_hash_reference
from scoring.offers import OfferPolicy
from scoring.offers import stable_unit_hash as offers_stable_unit_hash

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
keys = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=16, max_size=16
)


def test_siphash24_matches_the_published_test_vectors():
    """Aumasson & Bernstein, SipHash paper, appendix A (key 00..0f)."""
    key = bytes(range(16))
    assert siphash24(bytes(range(15)), key) == 0xA129CA6149BE45E5
    assert siphash24(b"", key) == 0x726FDB47DD0E0E31


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(texts, max_size=30), salt=texts, key=keys)
def test_kernel_equals_reference_on_random_ids(ids, salt, key):
    kernel = stable_unit_hash(pd.Series(ids, dtype=object), salt, key)
    reference = stable_unit_hash_reference(ids, salt, key)
    assert kernel.dtype == np.float64 and kernel.shape == (len(ids),)
    np.testing.assert_array_equal(kernel, reference)
    assert np.all((kernel >= 0) & (kernel < 1))


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(st.integers(0, 10**12), max_size=20, unique=True))
def test_kernel_equals_reference_on_integer_ids_and_string_dtypes(ids):
    salt, key = OfferPolicy.hash_salt, OfferPolicy.hash_key
    as_text = [str(i) for i in ids]
    reference = stable_unit_hash_reference(as_text, salt, key)
    np.testing.assert_array_equal(stable_unit_hash(ids, salt, key), reference)
    np.testing.assert_array_equal(
        stable_unit_hash(pd.Series(as_text, dtype=str), salt, key), reference
    )
    np.testing.assert_array_equal(
        stable_unit_hash(pd.Series(as_text, dtype="string"), salt, key), reference
    )


def test_offers_name_is_the_kernel_with_the_policy_defaults():
    ids = pd.Series(["12346", "lead-0001", "kü€"], dtype=str)
    expected = stable_unit_hash_reference(ids, OfferPolicy.hash_salt, OfferPolicy.hash_key)
    np.testing.assert_array_equal(offers_stable_unit_hash(ids), expected)
    np.testing.assert_array_equal(
        offers_stable_unit_hash(ids, "campaign-2"),
        stable_unit_hash_reference(ids, "campaign-2", OfferPolicy.hash_key),
    )
