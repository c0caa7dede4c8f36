"""The notifier creates the feedback topic of an organisation that may refer, once, and of one the relay holds."""

import asyncio

from services.notifier.loops.feedback_topics import FeedbackTopics, missing


def test_a_new_organisation_is_missing_and_one_seen_to_is_not() -> None:
    assert missing({"H81001", "Y02345"}, {"H81001"}, []) == {"Y02345"}


def test_a_held_feedback_topic_of_an_organisation_that_may_refer_is_created_again() -> (
    None
):
    held = [
        "practice.H81001.feedback",
        "practice.ZZZ99.feedback",
        "agency.alpha.referrals",
        "practice.H81001.other",
    ]
    assert missing({"H81001"}, {"H81001"}, held) == {"H81001"}


def test_only_feedback_topics_of_organisations_that_may_refer_are_created() -> None:
    created: list[dict[str, int]] = []

    async def create(topics: dict[str, int]) -> list[str]:
        created.append(topics)
        return list(topics)

    may_refer = {"H81001"}
    topics = FeedbackTopics(
        create, lambda: set(may_refer), lambda: ["practice.ZZZ99.feedback"]
    )
    asyncio.run(topics.round())
    asyncio.run(topics.round())  # nothing new: no call
    may_refer.add("Y02345")  # a client added to the registry
    asyncio.run(topics.round())
    assert created == [{"practice.H81001.feedback": 1}, {"practice.Y02345.feedback": 1}]
