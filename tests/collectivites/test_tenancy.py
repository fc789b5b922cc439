"""Tenancy fails closed: a tenant model queried without its collectivité is an error."""

import pytest

from collectivites.models import Audience, Membership, SocialAccount
from collectivites.tenancy import UnscopedQueryError
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    [
        lambda: list(SocialAccount.objects.all()),
        lambda: SocialAccount.objects.count(),
        lambda: SocialAccount.objects.exists(),
        lambda: SocialAccount.objects.first(),
        lambda: SocialAccount.objects.get(pk=1),
        lambda: SocialAccount.objects.filter(handle="@x").exists(),
        lambda: SocialAccount.objects.update(handle="@x"),
        lambda: SocialAccount.objects.all().delete(),
        lambda: list(SocialAccount.objects.values_list("pk", flat=True)),
        lambda: list(SocialAccount.objects.iterator()),
        lambda: SocialAccount.objects.aggregate(n=__import__("django").db.models.Count("pk")),
        lambda: list(Audience.objects.order_by("name")),
        lambda: list(Membership.objects.all()),
    ],
)
def test_unscoped_queries_raise(query) -> None:  # type: ignore[no-untyped-def]
    factories.SocialAccountFactory()
    with pytest.raises(UnscopedQueryError):
        query()


def test_for_collectivite_sees_only_its_rows() -> None:
    mine = factories.SocialAccountFactory()
    other = factories.SocialAccountFactory()
    rows = list(SocialAccount.objects.for_collectivite(mine.collectivite))
    assert rows == [mine]
    assert other not in rows
    assert SocialAccount.objects.for_collectivite(other.collectivite.pk).get() == other


def test_scope_survives_chaining() -> None:
    acc = factories.SocialAccountFactory(handle="@a")
    qs = SocialAccount.objects.for_collectivite(acc.collectivite).filter(handle="@a").order_by("pk")
    assert qs.count() == 1
    assert list(qs.exclude(handle="@b")) == [acc]


def test_none_is_not_a_scope() -> None:
    with pytest.raises(UnscopedQueryError):
        SocialAccount.objects.for_collectivite(None)
    with pytest.raises(UnscopedQueryError):
        SocialAccount.objects.filter(collectivite=None).count()


def test_deliberate_cross_tenant_query_is_spelled_out() -> None:
    factories.SocialAccountFactory()
    factories.SocialAccountFactory()
    assert SocialAccount.objects.dangerously_unscoped().count() == 2


def test_related_managers_of_a_tenant_row_are_scoped() -> None:
    account = factories.SocialAccountFactory()
    audience = factories.AudienceFactory(collectivite=account.collectivite)
    account.audiences.set([audience])
    assert list(account.audiences.all()) == [audience]
    line = factories.EditorialLineFactory(account=account)
    assert account.editorial_line == line
    assert line.account == account


def test_membership_of_a_person_across_collectivites() -> None:
    user = factories.UserFactory()
    m1 = factories.MembershipFactory(user=user)
    m2 = factories.MembershipFactory(user=user)
    factories.MembershipFactory()
    assert set(Membership.objects.for_user(user)) == {m1, m2}


def test_cascade_from_collectivite_deletes_its_rows() -> None:
    line = factories.EditorialLineFactory()
    collectivite = line.collectivite
    collectivite.delete()
    assert SocialAccount.objects.dangerously_unscoped().count() == 0


def test_uniqueness_checks_work_on_tenant_models() -> None:
    from django.core.exceptions import ValidationError

    line = factories.EditorialLineFactory()
    duplicate = type(line)(collectivite=line.collectivite, account=line.account)
    with pytest.raises(ValidationError):
        duplicate.full_clean()
