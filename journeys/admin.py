"""Admin for journeys: edit the document, see versions, counts and enrollments."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from journeys.document import JourneyInvalid
from journeys.models import Enrollment, Journey
from journeys.services import journey_activate, journey_pause, journey_save, journey_validate


class JourneyForm(forms.ModelForm):
    """The journey is its document: key and name come from it (docs/journey-format.md)."""

    document = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"}),
        help_text="The journey document (JSON); see docs/journey-format.md. Saving a journey "
        "that has been live creates a new version; customers in it stay on theirs.",
    )

    class Meta:
        model = Journey
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            latest = self.instance.versions.order_by("-number").first()
            if latest is not None:
                self.initial["document"] = latest.document

    def clean_document(self):
        document = self.cleaned_data["document"]
        try:
            journey_validate(document)
        except JourneyInvalid as exc:
            raise forms.ValidationError(exc.problems) from None
        if self.instance.pk and document.get("key") != self.instance.key:
            raise forms.ValidationError(f"key: must stay {self.instance.key!r}")
        return document


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    form = JourneyForm
    list_display = (
        "name",
        "key",
        "status",
        "live_version",
        "active_enrollments",
        "updated_at",
        "report_link",
    )
    list_filter = ("status",)
    search_fields = ("key", "name")
    readonly_fields = ("reports", "versions_table")
    actions = ("activate", "pause")

    def get_fields(self, request, obj=None):
        return ("reports", "document", "versions_table") if obj else ("document",)

    @admin.display(description="report")
    def report_link(self, journey):
        return format_html(
            '<a href="{}">Report</a>', reverse("reports:journey", args=[journey.key])
        )

    @admin.display(description="reports")
    def reports(self, journey):
        """The journey's report, and each split step's A/B report (newest version's splits)."""
        latest = journey.versions.order_by("-number").first()
        splits = [
            key
            for key, step in (latest.document["steps"] if latest else {}).items()
            if step.get("type") == "split"
        ]
        links = [(reverse("reports:journey", args=[journey.key]), "Funnel and experiments")]
        links += [
            (reverse("reports:experiment", args=[f"journey:{journey.key}:{key}"]), f"split {key}")
            for key in splits
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="versions")
    def versions_table(self, journey):
        """Each version with when it went live, how many entered, and its step counts."""
        rows = format_html_join(
            "",
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    version.number,
                    version.activated_at or "never live",
                    version.enrollments.count(),
                    ", ".join(
                        f"{c.step}/{c.outcome}: {c.count}"
                        for c in version.counts.order_by("step", "outcome")
                    )
                    or "—",
                )
                for version in journey.versions.order_by("-number")
            ),
        )
        return format_html(
            "<table><tr><th>version</th><th>live since</th><th>entered</th>"
            "<th>step counts</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="in the journey now")
    def active_enrollments(self, journey):
        return journey.enrollments.filter(status=Enrollment.Status.ACTIVE).count()

    def save_model(self, request, obj, form, change):
        version = journey_save(document=form.cleaned_data["document"])
        obj.pk = version.journey_id
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # versions are written by journey_save, not by the admin form

    @admin.action(description="Activate (newest version goes live)")
    def activate(self, request, queryset):
        for journey in queryset:
            enrolled = journey_activate(journey=journey)
            messages.success(request, f"{journey.name} is live; broadcast enrolled {enrolled:,}.")

    @admin.action(description="Pause (stop enrolling and advancing)")
    def pause(self, request, queryset):
        for journey in queryset:
            journey_pause(journey=journey)
        messages.success(request, f"Paused {queryset.count()} journey(s).")


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("customer", "journey", "version", "status", "step", "due_at", "exit_reason")
    list_filter = ("status", "journey", "exit_reason")
    search_fields = ("customer__email", "customer__external_id")
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "journey", "version")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
