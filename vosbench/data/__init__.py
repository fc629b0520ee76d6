"""Datasets: DAVIS 2016/2017, YouTube-VOS 2018/2019, a folder of frames, synthetic."""

from vosbench.data.video import Dataset, Video, VideoInfo

__all__ = ["Dataset", "Video", "VideoInfo"]
